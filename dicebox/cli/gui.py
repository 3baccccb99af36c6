"""``dicebox gui``: the desktop supervised trainer."""

from __future__ import annotations

import argparse

from dicebox.cli import UsageError
from dicebox.cli.serve import add_config_arguments, config_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser("gui", help="open the desktop supervised trainer")
    add_config_arguments(parser)
    parser.add_argument("--source", help="camera source to open, e.g. 0 or synthetic:dice")
    parser.add_argument("--local-service", action="store_true", help="start the local sensory service")
    parser.add_argument("--fresh", action="store_true", help="do not reopen the last session's source and service")
    parser.add_argument("--smoke-test", action="store_true",
                        help="open the window, print when it is shown, and quit (for installers and checks)")
    parser.set_defaults(func=run)


def check_display() -> None:
    """Stop with one line, before Qt aborts with a misleading "reinstall", when no window can open."""
    import os

    from dicebox.gui.qt_platform import missing_xcb_libraries, uses_xcb

    if not uses_xcb():
        return
    if not os.environ.get("DISPLAY"):
        raise UsageError("no X display to open the window on (DISPLAY is not set)")
    problem = missing_xcb_libraries()
    if problem:
        raise UsageError(problem)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    config = config_from_args(args)
    if importlib.util.find_spec("PyQt5") is None:  # a server or trainer install: say so before the display
        raise ModuleNotFoundError("No module named 'PyQt5'", name="PyQt5")
    check_display()
    from dicebox.gui.app import run_gui

    return run_gui(config, source=args.source, local_service=args.local_service, restore=not args.fresh,
                   smoke_test=args.smoke_test)
