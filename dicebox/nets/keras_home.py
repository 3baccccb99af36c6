"""Where Keras keeps its settings file (``keras.json``): dicebox's data folder, not ``~/.keras``.

Keras reads its home from the ``KERAS_HOME`` environment variable once, when it is first imported,
and offers no other way to set it; the variable also reaches the child processes that train.
"""

from __future__ import annotations

import os
from pathlib import Path


def keep_keras_home_in(folder: Path) -> None:
    """Make ``folder`` the home of Keras in this process and its children, unless the user chose one.

    Call it before Keras is imported; later calls change nothing for this process.
    """
    os.environ.setdefault("KERAS_HOME", str(folder))
