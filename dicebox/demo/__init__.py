"""The scripted demo: synthetic dice recorded into a local service, an evolution, the champion
used live, and the report with its figures. Runs headless or behind the GUI's demo window.
"""
