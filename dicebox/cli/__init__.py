"""The ``dicebox`` command: one entry point, one module per subcommand.

Each subcommand module defines ``register(subparsers)`` that adds its parser and sets
``func=run`` where ``run(args) -> int``. Subcommand modules are imported only when listed here;
heavy libraries (TensorFlow, Qt, Flask) are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn

import dicebox
from dicebox.config import ConfigError
from dicebox.nets.keras_home import keep_keras_home_in
from dicebox.plumbing.paths import data_home

SUBCOMMANDS = [
    "dicebox.cli.serve",
    "dicebox.cli.dataset_io",
    "dicebox.cli.gui",
    "dicebox.cli.config_cmd",
    "dicebox.cli.train",
    "dicebox.cli.export_model",
    "dicebox.cli.batch_processor",
    "dicebox.cli.evolve",
    "dicebox.cli.worker",
    "dicebox.cli.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicebox",
        description="Teach a computer to recognise what a camera sees.",
    )
    parser.add_argument("--version", action="version", version=f"dicebox {dicebox.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2."""


def entry(argv: list[str] | None = None) -> NoReturn:
    """The ``dicebox`` command and ``python -m dicebox``: :func:`main`, then :func:`exit_process`."""
    exit_process(main(argv))


def exit_process(code: int) -> NoReturn:
    """End the process with ``code``.

    A process that ran TensorFlow ends without Python's interpreter shutdown: TensorFlow's threads
    and static destructors crash it there now and then (SIGSEGV after the work was done and saved),
    which a parent such as the window would report as a failed run.
    """
    if "tensorflow" in sys.modules:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    keep_keras_home_in(data_home() / "keras")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (ConfigError, UsageError) as exc:
        print(f"dicebox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dicebox: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        from dicebox.cli.roles import missing_dependency

        message = missing_dependency(exc, args.command)
        if message is None:
            raise
        print(f"dicebox: error: {message}", file=sys.stderr)
        return 2
