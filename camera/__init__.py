"""Frame sources, threaded capture and regions of interest, installed as ``dicebox.camera``.

Depends on OpenCV and numpy only.
"""
