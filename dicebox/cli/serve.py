"""``dicebox serve``: the sensory service (``python ./sensory_service.py`` runs the same)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dicebox.cli import UsageError
from dicebox.cli.signals import stop_on_signals
from dicebox.config import Config, load_config

log = logging.getLogger("dicebox.serve")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every command that reads the configuration shares."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="dicebox.config INI file (default: $DICEBOX_CONFIG, else dicebox.config in the data folder)",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="keep data sets, models and the API key in DIR")


def add_broker_argument(parser: argparse.ArgumentParser) -> None:
    """``--broker``: fill batch orders through RabbitMQ (overrides the configuration)."""
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="RabbitMQ URL amqp://user:password@host:port/vhost for batch orders "
        "(default: [SENSORY_SERVICE] rabbitmq_* or DICEBOX_BROKER_URL; none: in process)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    config = load_config(args.config, data_dir=args.data_dir)
    broker = getattr(args, "broker", None)
    if broker:
        if not broker.startswith(("amqp://", "amqps://")):
            raise UsageError(f"--broker {broker!r}: expected a URL starting with amqp:// or amqps://")
        config = config.replace("sensory_service", broker_url=broker)
    index_dir = getattr(args, "index_dir", None)
    if index_dir:
        config = config.replace("directory", index_dir=str(Path(index_dir).expanduser().absolute()))
    return config


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="run the sensory service (REST API)")
    add_config_arguments(parser)
    add_broker_argument(parser)
    parser.add_argument("--host", help="address to listen on (default: [SERVER] listening_host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 5000; 0 picks a free one)")
    parser.add_argument("--threads", type=int, help="request threads (default: [SERVER] threads)")
    parser.add_argument(
        "--index-dir",
        metavar="DIR",
        help="keep the data sets' indexes in DIR on this machine's disk, for a data folder shared by "
        "several machines over NFS/EFS (default: [DIRECTORY] index_dir; empty: in each data set's folder)",
    )
    parser.add_argument(
        "--model",
        metavar="BUNDLE",
        help="serve this model bundle, export kit or exported .onnx/.tflite file on /api/classify "
        "(default: [SERVER] model_weights_filename)",
    )
    parser.add_argument(
        "--runtime",
        choices=("auto", "keras", "onnx", "tflite"),
        default="auto",
        help="what runs the model (default auto: Keras for a bundle; onnxruntime, then LiteRT, for an export kit)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dicebox.service import create_app, service_context
    from dicebox.service.server import ServiceServer

    config = config_from_args(args)
    # pika logs every connection step, and several errors per failed attempt; dicebox reports those itself.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    host = args.host or config.server.listening_host
    port = config.server.listening_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: must be 0..65535")
    classifier = None
    bundle = args.model or (
        config.weights_dir / config.server.model_weights_filename if config.server.model_weights_filename else None
    )
    if bundle is not None:
        from dicebox.nets.bundle import BundleError
        from dicebox.service.classify_routes import load_classifier

        try:
            classifier = load_classifier(bundle, args.runtime)
        except BundleError as exc:
            raise UsageError(f"--model {bundle}: {exc}") from None
        log.info("serving model %s from %s (%s runtime)", classifier.model_id, bundle, classifier.runtime)
    app = create_app(config, classifier=classifier)
    try:
        server = ServiceServer(app, host, port, args.threads or config.server.threads)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # The GUI and tests read this line to learn the port when they ask for port 0.
    print(f"dicebox sensory service listening on {server.url}", flush=True)
    log.info("data sets in %s; API key file in %s", config.datasets_dir, config.home)

    # waitress warns whenever one request waits for a thread: routine for a busy local service.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # SIGTERM (docker stop, a rolling update) and Ctrl-C drain: requests under way finish first.
    stop_on_signals(server.drain)
    context = service_context(app)
    if context.batches is not None:
        context.batches.start()  # adopt orders other replicas left unfinished in the shared folder
    server.serve_forever()
    context.close()
    return 0
