"""dicebox: teach a computer to recognise what a camera sees.

The core package is Qt-free and imports nothing heavy: TensorFlow, Flask and pika are imported
lazily by the modules that need them.
"""

import os as _os

__version__ = "0.4.0"

# Installed, setup.py maps the top-level gui/ and camera/ folders into this package. Run from a
# source checkout (``python -m dicebox`` in the repository), they sit beside it instead.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "setup.py")) and _os.path.isdir(
    _os.path.join(_checkout, "camera")
):
    __path__.append(_checkout)  # noqa: F821 - __path__ is defined for packages
