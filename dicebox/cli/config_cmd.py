"""``dicebox config``: print the configuration in effect, in the original INI format."""

from __future__ import annotations

import argparse
import io
import sys

from dicebox.cli.serve import add_config_arguments, config_from_args
from dicebox.config import Config, write_config


def register(subparsers) -> None:
    parser = subparsers.add_parser("config", help="print the configuration in effect as a dicebox.config file")
    add_config_arguments(parser)
    parser.add_argument("--defaults", action="store_true", help="print the built-in defaults only")
    parser.add_argument("--show-key", action="store_true", help="print the API key instead of hiding it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = Config() if args.defaults else config_from_args(args)
    if not args.show_key:
        config = config.replace("server", api_access_key="<hidden: use --show-key>" if not args.defaults else "")
    buffer = io.StringIO()
    write_config(config, buffer)
    sys.stdout.write(buffer.getvalue())
    if not args.defaults:
        print(f"# configuration file: {config.source or 'none (built-in defaults)'}")
        print(f"# data folder: {config.home}")
    return 0
