"""``dicebox batch-processor``: fill batch orders from RabbitMQ with the local data set store."""

from __future__ import annotations

import argparse
import logging

from dicebox.cli import UsageError
from dicebox.cli.serve import add_broker_argument, add_config_arguments, config_from_args
from dicebox.cli.signals import stop_on_signals

log = logging.getLogger("dicebox.batch_processor")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch-processor", help="fill batch orders from RabbitMQ (run several for parallel shards)")
    add_config_arguments(parser)
    add_broker_argument(parser)
    parser.add_argument("--prefetch", type=int, default=1,
                        help="shard orders taken from the broker ahead of time (default 1)")
    parser.add_argument("--item-delay", type=float, default=0.0, metavar="SECONDS",
                        help=argparse.SUPPRESS)  # tests: make shards slow enough to interrupt
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dicebox.batches.rabbit_processor import BatchProcessor
    from dicebox.batches.rabbit_topology import RabbitTopology, redacted
    from dicebox.store import DatasetStore

    config = config_from_args(args)
    # pika logs every connection step, and several errors per failed attempt; dicebox reports those itself.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    if config.broker_url is None:
        raise UsageError("no broker configured: pass --broker amqp://..., set DICEBOX_BROKER_URL, "
                         "or [SENSORY_SERVICE] rabbitmq_server in the configuration file")
    if args.prefetch < 1:
        raise UsageError(f"--prefetch {args.prefetch}: must be at least 1")
    store = DatasetStore(config.datasets_dir, default_channels=config.dataset.channels,
                         max_image_pixels=config.server.max_image_pixels)

    def ready(queue: str) -> None:
        # Tests and deployment scripts wait for this line.
        print(f"dicebox batch processor waiting for orders on {queue}", flush=True)

    processor = BatchProcessor(store, config.broker_url, RabbitTopology.from_config(config),
                               prefetch=args.prefetch, item_delay=max(0.0, args.item_delay), on_ready=ready)

    stop_on_signals(processor.stop)
    log.info("data sets in %s; broker %s", config.datasets_dir, redacted(config.broker_url))
    try:
        processor.run()
    finally:
        store.close()
    log.info("stopped after filling %d shard(s)", processor.filled)
    return 0
