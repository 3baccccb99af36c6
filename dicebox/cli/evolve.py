"""``dicebox evolve``: search for a good network architecture (genetic algorithm or random search).

Every generation is written to ``<population_dir>/<run id>/<generation>/population.json`` (the
original format), the run's state to ``state.json`` after every individual, and the best network
so far to the bundle ``<population_dir>/<run id>/champion/``. Ctrl-C or SIGTERM stops after
saving; ``--resume RUN`` continues exactly there. ``--events jsonl`` prints one JSON object per
event on stdout for programs (the GUI) that follow the run.

The fitness is the one registered as this process's default (dicebox.evolution.fitness_registry):
"train". Test hook: with ``DICEBOX_FAKE_FITNESS=1`` in the environment, the fake fitness (a pure
function of the genome, nothing trained) is registered and the default (dicebox.evolution.fake_fitness).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import sys
import threading
from pathlib import Path

from dicebox.cli import UsageError
from dicebox.cli.serve import add_config_arguments, config_from_args
from dicebox.cli.signals import on_stop_signals
from dicebox.config import Config

log = logging.getLogger("dicebox.evolve")


def _population_arg(value: str) -> int | Path:
    """``--population``: a size, or a saved population.json to start from."""
    try:
        return int(value)
    except ValueError:
        return Path(value)


def register(subparsers) -> None:
    parser = subparsers.add_parser("evolve", help="evolve network architectures (or random-search them)")
    add_config_arguments(parser)
    parser.add_argument("--dataset", help="data set id <name>_<width>x<height> (default: the configured one)")
    parser.add_argument("--npz", metavar="FILE", help="use an .npz file (arrays images, labels, categories) instead")
    parser.add_argument("--generations", type=int, help="generations (default: [EVOLUTION] generations)")
    parser.add_argument("--population", type=_population_arg, metavar="N|FILE",
                        help="individuals per generation (default: [EVOLUTION] population), "
                             "or a population.json to start from (same as --population-file)")
    parser.add_argument("--population-file", metavar="FILE", help="start from the genomes of a saved population.json")
    parser.add_argument("--epochs", type=int, help="epochs per individual (default: [EVOLUTION] epochs)")
    parser.add_argument("--patience", type=int, default=2,
                        help="early stopping: epochs without improvement (default 2; 0: never)")
    parser.add_argument("--strategy", choices=("evolve", "random"), default="evolve",
                        help="genetic algorithm, or the random-search baseline with the same budget")
    parser.add_argument("--selection", choices=("truncation", "tournament"), default="tournament",
                        help="parents among the living networks that beat chance: tournaments of 3 (default), "
                             "or the best [EVOLUTION] retain share plus random_select (the original); "
                             "the best two always survive unchanged")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help="wall-clock budget of the whole run, the champion's final retraining included: "
                             "no training starts once it is spent (generations then only cap the run)")
    parser.add_argument("--test-share", type=float, default=0.2,
                        help="share of the images held out as a test split the search never sees; the "
                             "retrained champion is scored on it (default 0.2; 0: none)")
    parser.add_argument("--final-epochs", type=int, default=30,
                        help="epochs of the champion's final retraining on all the search data, with its own "
                             "early stopping (default 30; 0: no retraining)")
    parser.add_argument("--seed", type=int, help="seed of the search and of every network (default: random)")
    parser.add_argument("--max-parameters", type=int, default=2_000_000,
                        help="resample networks larger than this (default 2,000,000)")
    parser.add_argument("--run-id", help="name of a new run (default: date-time-random)")
    parser.add_argument("--resume", metavar="RUN", help="continue an interrupted run (id or folder)")
    parser.add_argument("--processes", type=int, default=1, help="local training processes (default 1: in this process)")
    parser.add_argument("--broker", nargs="?", const="", metavar="URL",
                        help="train on 'dicebox worker' processes via RabbitMQ at URL "
                             "(without URL: the configured broker)")
    parser.add_argument("--queue", metavar="NAME",
                        help="with --broker: " + "the RabbitMQ queue of training orders (default dicebox.evolution.orders); evolutions that share a "
                             "broker but not their workers each use their own")
    parser.add_argument("--events", choices=("jsonl",), help="also print every event as a JSON line on stdout")
    parser.add_argument("--json-events", action="store_const", const="jsonl", dest="events",
                        help="same as --events jsonl")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _load_data(config: Config, args: argparse.Namespace, dataset_id: str | None = None):
    from dicebox.cli.train import load_training_data

    if dataset_id is not None and not args.npz:
        args.dataset = dataset_id
    data = load_training_data(config, args)
    return data, "" if args.npz else (args.dataset or config.dataset_id)


def _seed_genomes(args: argparse.Namespace):
    from dicebox.nets.genome import GenomeError, read_population

    path = args.population_file or (args.population if isinstance(args.population, Path) else None)
    if path is None:
        return []
    try:
        return [member.genome for member in read_population(path).members]
    except GenomeError as exc:
        raise UsageError(str(exc)) from None


def _fitness_name() -> str:
    """The registered fitness new runs use here (the test hook's when it is on, said on stderr)."""
    from dicebox.evolution.fitness_registry import default_fitness

    name, notice = default_fitness()
    if notice:
        print(f"dicebox: {notice}", file=sys.stderr)
    return name


def _new_search(config: Config, args: argparse.Namespace, make_evaluator):
    from dicebox.evolution.dataset import DataSpec
    from dicebox.evolution.run_folder import RunFolder, new_run_id
    from dicebox.evolution.search import Evolution, SearchSettings
    from dicebox.evolution.taxonomy import Taxonomy
    from dicebox.evolution.training_orders import TrainSpec

    run_id = args.run_id or new_run_id()
    if "/" in run_id or run_id in (".", ".."):
        raise UsageError(f"--run-id {run_id!r}: must be a plain name")
    folder = RunFolder(config.population_dir / run_id)
    if folder.state_file.exists():
        raise UsageError(f"run {run_id} exists already in {folder.path}; continue it with --resume {run_id}")
    genomes = _seed_genomes(args)
    if genomes and args.strategy == "random":
        raise UsageError("--population-file seeds the genetic algorithm; random search starts from random genomes")
    data, dataset_id = _load_data(config, args)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    try:
        train = TrainSpec(
            epochs=args.epochs or config.evolution.epochs,
            batch_size=config.training.batch_size,
            validation_split=config.training.validation_split,
            patience=args.patience,
            seed=seed,
            fitness=_fitness_name(),
            test_share=args.test_share,
        )
        size = args.population if isinstance(args.population, int) else None
        if size is None and genomes:
            size = len(genomes)  # a saved population keeps its size unless --population N says otherwise
        generations = args.generations
        if args.time_budget is not None and generations is None:
            generations = 100_000  # the budget ends the run
        settings = SearchSettings.from_config(
            config, strategy=args.strategy, generations=generations, population=size, train=train,
            selection=args.selection, time_budget=args.time_budget, final_epochs=args.final_epochs,
        )
        taxonomy = Taxonomy.from_config(config.taxonomy, max_parameters=args.max_parameters)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    spec = DataSpec.of(data, dataset_id)
    evaluator = make_evaluator(data, run_id)
    search = Evolution(settings, spec, evaluator, taxonomy=taxonomy, seed=seed, run=folder, initial=genomes)
    return search, evaluator


def _resumed_search(config: Config, args: argparse.Namespace, make_evaluator):
    from dicebox.evolution.dataset import DataSpec
    from dicebox.evolution.fitness_registry import FitnessUnavailable, get_fitness
    from dicebox.evolution.run_folder import RunFolder, RunStateError
    from dicebox.evolution.search import Evolution

    try:
        folder = RunFolder.locate(config.population_dir, args.resume)
        state = folder.read_state()
        spec = DataSpec.from_dict(state["data"])
        fitness = state["settings"]["train"]["fitness"]
    except (RunStateError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--resume {args.resume}: {exc}") from None
    try:
        get_fitness(fitness)
    except FitnessUnavailable as exc:
        raise UsageError(f"run {folder.run_id} used the fitness {fitness!r}, which cannot run here: {exc}") from None
    if not spec.dataset_id and not args.npz:
        raise UsageError(f"run {folder.run_id} trained on an .npz file: pass it again with --npz")
    data, _ = _load_data(config, args, spec.dataset_id or None)
    if data.version != spec.version:
        raise UsageError(
            f"the data set changed since run {folder.run_id} started (version {spec.version}, now {data.version}); "
            "its accuracies would not compare: start a new run"
        )
    evaluator = make_evaluator(data, folder.run_id)
    try:
        search = Evolution.resume(folder, evaluator)
    except (KeyError, TypeError, ValueError) as exc:
        evaluator.close()
        raise UsageError(f"--resume {args.resume}: damaged state: {exc}") from None
    return search, evaluator


def _evaluator_factory(config: Config, args: argparse.Namespace, cancel: threading.Event):
    if args.processes < 1:
        raise UsageError(f"--processes {args.processes}: must be at least 1")
    if args.broker is not None:
        url = config.broker_url
        if url is None:
            raise UsageError("--broker without URL needs a configured broker ([SENSORY_SERVICE] rabbitmq_server "
                             "or broker_url)")
        if args.npz:
            raise UsageError("--broker: workers load the data set from their own store; --npz cannot be used")
        if args.processes > 1:
            print("dicebox: --processes is ignored with --broker (start 'dicebox worker' processes instead)",
                  file=sys.stderr)

        def rabbit(_data, run_id: str):
            from dicebox.broker.queues import TrainingQueues
            from dicebox.evolution.rabbit_evaluator import RabbitEvaluator

            return RabbitEvaluator(url, run_id, queue=args.queue or TrainingQueues.task_queue, cancel=cancel)

        return rabbit

    def local(data, _run_id: str):
        from dicebox.evolution.evaluators import InlineEvaluator, ProcessEvaluator

        return ProcessEvaluator(data, args.processes) if args.processes > 1 else InlineEvaluator(data)

    return local


def _cancel_on_signals(cancel: threading.Event):
    """Ctrl-C and SIGTERM set ``cancel`` (a second Ctrl-C stops at once); returns the restorer."""

    def stop(signum: int) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop right now
        print("dicebox: stopping after saving the run (Ctrl-C again to stop at once)", file=sys.stderr)
        cancel.set()

    return on_stop_signals(stop)


def run(args: argparse.Namespace) -> int:
    from dicebox.cli.evolve_progress import ProgressReporter
    from dicebox.evolution.events import RunFinished
    from dicebox.evolution.search import SearchError

    config = config_from_args(args)
    logging.getLogger("pika").setLevel(logging.WARNING)  # its INFO lines would drown the progress display
    cancel = threading.Event()
    make_evaluator = _evaluator_factory(config, args, cancel)
    if args.resume:
        search, evaluator = _resumed_search(config, args, make_evaluator)
    else:
        search, evaluator = _new_search(config, args, make_evaluator)
    reporter = ProgressReporter(json_lines=args.events == "jsonl", quiet=args.quiet)
    restore_signals = _cancel_on_signals(cancel)
    status = "error"
    try:
        for event in search.run(cancel):
            reporter(event)
            if isinstance(event, RunFinished):
                status = event.status
    except SearchError as exc:
        print(f"dicebox: error: {exc} (resume with --resume {search.run_id} once fixed)", file=sys.stderr)
        return 1
    finally:
        reporter.close()
        evaluator.close(finished=search.finished)
        restore_signals()
    return {"finished": 0, "cancelled": 130}.get(status, 1)
