"""``dicebox serve``: the sensory service (``python ./sensory_service.py`` runs the same)."""

from __future__ import annotations

import argparse
import logging
import signal

from dicebox.cli import UsageError
from dicebox.config import Config, load_config

log = logging.getLogger("dicebox.serve")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every command that reads the configuration shares."""
    parser.add_argument("--config", metavar="FILE", help="dicebox.config INI file (default: built-in settings)")
    parser.add_argument("--data-dir", metavar="DIR", help="keep data sets, models and the API key in DIR")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, data_dir=args.data_dir)


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="run the sensory service (REST API)")
    add_config_arguments(parser)
    parser.add_argument("--host", help="address to listen on (default: [SERVER] listening_host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 5000; 0 picks a free one)")
    parser.add_argument("--threads", type=int, help="request threads (default: [SERVER] threads)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dicebox.service import create_app
    from dicebox.service.server import ServiceServer

    config = config_from_args(args)
    host = args.host or config.server.listening_host
    port = config.server.listening_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: must be 0..65535")
    app = create_app(config)
    try:
        server = ServiceServer(app, host, port, args.threads or config.server.threads)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # The GUI and tests read this line to learn the port when they ask for port 0.
    print(f"dicebox sensory service listening on {server.url}", flush=True)
    log.info("data sets in %s; API key file in %s", config.datasets_dir, config.home)

    def stop(signum, _frame) -> None:
        log.info("stopping (signal %d)", signum)
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    app.extensions["dicebox"].store.close()
    return 0
