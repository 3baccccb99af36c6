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
    parser.add_argument("--max-items-per-second", type=float, default=0.0, metavar="N",
                        help="fill at most N items per second, leaving a shared volume's bandwidth to stores "
                             "(default 0: no limit)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dicebox.batches.rabbit_processor import BatchProcessor
    from dicebox.broker.connection import redacted
    from dicebox.broker.queues import BatchQueues
    from dicebox.store import DatasetStore

    config = config_from_args(args)
    # pika logs every connection step, and several errors per failed attempt; dicebox reports those itself.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    if config.broker_url is None:
        raise UsageError("no broker configured: pass --broker amqp://..., set DICEBOX_BROKER_URL, "
                         "or [SENSORY_SERVICE] rabbitmq_server in the configuration file")
    if args.prefetch < 1:
        raise UsageError(f"--prefetch {args.prefetch}: must be at least 1")
    if not args.max_items_per_second >= 0:
        raise UsageError(f"--max-items-per-second {args.max_items_per_second}: must be 0 (no limit) or more")
    store = DatasetStore.from_config(config)

    def ready(queue: str) -> None:
        # Tests and deployment scripts wait for this line.
        print(f"dicebox batch processor waiting for orders on {queue}", flush=True)

    processor = BatchProcessor(store, config.broker_url, BatchQueues.from_config(config),
                               prefetch=args.prefetch, max_items_per_second=args.max_items_per_second,
                               on_ready=ready)

    stop_on_signals(processor.stop)
    log.info("data sets in %s; broker %s", config.datasets_dir, redacted(config.broker_url))
    try:
        processor.run()
    finally:
        store.close()
    log.info("stopped after filling %d shard(s)", processor.filled)
    return 0
