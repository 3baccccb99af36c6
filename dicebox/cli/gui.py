"""``dicebox gui``: the desktop supervised trainer."""

from __future__ import annotations

import argparse

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


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    from dicebox.gui.app import run_gui

    return run_gui(config, source=args.source, local_service=args.local_service, restore=not args.fresh,
                   smoke_test=args.smoke_test)
