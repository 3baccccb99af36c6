"""dicebox: teach a computer to recognise what a camera sees.

The core package is Qt-free and imports nothing heavy: TensorFlow, Flask and pika are imported
lazily by the modules that need them.
"""

__version__ = "0.4.0"
