"""Entry point of the frozen dicebox app: the ``dicebox`` command, with every subcommand.

PyInstaller freezes this script (see packaging/dicebox.spec). The executable is the dicebox CLI
itself, because the GUI's one-click local service runs ``[sys.executable, "serve", ...]`` when
frozen (dicebox.plumbing.child_process.dicebox_command), and evolution's worker processes are spawned
from ``sys.executable`` too.

Without arguments, the frozen app opens the GUI on Windows and macOS, where it is started by
double-clicking (Start menu, Finder, Dock) and no one could type a subcommand; on Linux it prints
the usage, like the pip-installed command (the desktop entry runs ``dicebox gui``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def main() -> int:
    # Spawned evolution workers re-run this executable with multiprocessing's private arguments;
    # freeze_support() (PyInstaller makes it work on every platform) runs the child and exits.
    multiprocessing.freeze_support()
    # macOS before 10.9 passes a process serial number when the app is opened from Finder.
    argv = [arg for arg in sys.argv[1:] if not arg.startswith("-psn_")]
    if not argv and getattr(sys, "frozen", False) and sys.platform in ("win32", "darwin"):
        argv = ["gui"]
    # Keras writes ~/.keras/keras.json on import; the app keeps to its data folder instead.
    if "KERAS_HOME" not in os.environ:
        from dicebox.plumbing.paths import data_home

        os.environ["KERAS_HOME"] = str(data_home() / "keras")
    from dicebox.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    from dicebox.cli import exit_process

    exit_process(main())
