"""``dicebox worker``: train evolution orders from RabbitMQ (run any number, on any machines).

Each worker loads the data sets named in the orders from its own store (the same data folder or
a copy with the same content: the version must match) and trains one order at a time.
"""

from __future__ import annotations

import argparse
import logging

from dicebox.cli import UsageError
from dicebox.cli.serve import add_broker_argument, add_config_arguments, config_from_args
from dicebox.cli.signals import stop_on_signals

log = logging.getLogger("dicebox.worker")


def register(subparsers) -> None:
    parser = subparsers.add_parser("worker", help="train evolution orders from RabbitMQ")
    add_config_arguments(parser)
    add_broker_argument(parser)
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: all cores)")
    parser.add_argument("--queue", metavar="NAME",
                        help="the RabbitMQ queue of training orders (default dicebox.evolution.orders); evolutions that share a "
                             "broker but not their workers each use their own")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dicebox.broker.connection import redacted
    from dicebox.broker.queues import TrainingQueues
    from dicebox.evolution.fitness import limit_threads
    from dicebox.evolution.rabbit_worker import TrainingWorker, store_loader
    from dicebox.store import DatasetStore

    config = config_from_args(args)
    logging.getLogger("pika").setLevel(logging.WARNING)  # one INFO line per connection step otherwise
    if config.broker_url is None:
        raise UsageError("no broker configured: pass --broker amqp://..., set DICEBOX_BROKER_URL, "
                         "or [SENSORY_SERVICE] rabbitmq_server in the configuration file")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads {args.threads}: must be at least 1")
        limit_threads(args.threads)
    store = DatasetStore.from_config(config)

    def ready(queue: str) -> None:
        # Tests and deployment scripts wait for this line.
        print(f"dicebox worker waiting for training orders on {queue}", flush=True)

    def taking(order) -> None:
        print(f"dicebox worker training {order.order_id}", flush=True)

    worker = TrainingWorker(config.broker_url, store_loader(store), queue=args.queue or TrainingQueues.task_queue,
                            on_ready=ready, on_order=taking)

    stop_on_signals(worker.stop)
    log.info("data sets in %s; broker %s", config.datasets_dir, redacted(config.broker_url))
    try:
        worker.run()
    finally:
        store.close()
    log.info("stopped after %d order(s)", worker.trained)
    return 0
