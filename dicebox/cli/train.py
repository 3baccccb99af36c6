"""``dicebox train``: train one network (the original's "lonestar") and write a model bundle."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import zipfile
from pathlib import Path

from dicebox.cli import UsageError
from dicebox.cli.serve import add_config_arguments, config_from_args
from dicebox.config import Config
from dicebox.images import LabelledImages, read_npz
from dicebox.nets.genome import DEFAULT_MAX_PARAMETERS, Genome, GenomeError, GenomeTooLarge, default_genome, load_genome


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train one network and save it as a model bundle")
    add_config_arguments(parser)
    parser.add_argument("--out", metavar="BUNDLE", required=True, help="model bundle folder (replaced)")
    parser.add_argument("--genome", metavar="FILE", help="genome (lonestar) JSON file (default: a small CNN)")
    parser.add_argument("--dataset", help="data set id <name>_<width>x<height> (default: the configured one)")
    parser.add_argument(
        "--npz", metavar="FILE", help="train on an .npz file with arrays images, labels, categories instead"
    )
    parser.add_argument("--epochs", type=int, help="at most this many epochs (default: [TRAINING] epochs)")
    parser.add_argument("--seed", type=int, help="seed for a reproducible run (default: [TRAINING] seed)")
    parser.add_argument("--batch-size", type=int, help="images per batch (default: [TRAINING] batch_size)")
    parser.add_argument("--patience", type=int, help="stop after N epochs without improvement (0: never)")
    parser.add_argument(
        "--max-parameters",
        type=int,
        default=DEFAULT_MAX_PARAMETERS,
        metavar="N",
        help=f"refuse a genome of more weights than this (default: {DEFAULT_MAX_PARAMETERS:,})",
    )
    parser.add_argument(
        "--repair", action="store_true", help="fix a genome that does not fit the images instead of stopping"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--json-events",
        action="store_true",
        help="also print every progress event (TrainStarted, BatchProgress, EpochEnd, TrainFinished) "
        "as one JSON object per line on stdout",
    )
    parser.set_defaults(func=run)


def load_npz(path: Path) -> LabelledImages:
    """Arrays ``images`` (N,H,W[,C] uint8), ``labels`` (N ints), ``categories`` (names), [``version``],
    [``stored_at`` (N seconds since the epoch: held-out splits then keep recording sessions whole)]."""
    try:
        return read_npz(path)
    except FileNotFoundError:
        raise UsageError(f"--npz file not found: {path}") from None
    except KeyError as exc:
        raise UsageError(f"{path}: needs arrays images, labels and categories ({exc} is missing)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def load_training_data(config: Config, args: argparse.Namespace) -> LabelledImages:
    """The labelled images to train on: ``--npz``, or the data set from the local store."""
    if args.npz:
        data = load_npz(Path(args.npz))
        source = args.npz
    else:
        from dicebox.store import DatasetStore, StoreError

        source = args.dataset or config.dataset_id
        store = DatasetStore(config.datasets_dir, default_channels=config.dataset.channels)
        try:
            data = store.dataset(source, create=False).arrays()
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        finally:
            store.close()
    if len(data) == 0:
        raise UsageError(f"no images to train on in {source}")
    return data


def _genome(args: argparse.Namespace) -> Genome:
    if not args.genome:
        return default_genome()
    try:
        return load_genome(args.genome)
    except GenomeError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from dicebox.nets.bundle import BundleError, check_bundle_target, save_bundle
    from dicebox.nets.training import TrainingError, TrainOptions, data_geometry, train

    config = config_from_args(args)
    genome = _genome(args)
    out = Path(args.out)
    try:
        check_bundle_target(out)
        options = TrainOptions.from_config(
            config, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size, patience=args.patience
        )
    except (BundleError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    data = load_training_data(config, args)
    geometry = data_geometry(data)
    if args.max_parameters < 1:
        raise UsageError(f"--max-parameters must be at least 1, got {args.max_parameters}")
    try:
        genome.validate(geometry, len(data.categories), max_parameters=args.max_parameters)
    except GenomeTooLarge as exc:
        raise UsageError(str(exc)) from None
    except GenomeError as exc:
        if not args.repair:
            raise UsageError(f"{exc} (--repair fixes sizes and layer order)") from None
        genome = genome.repaired(geometry)
        print(f"repaired genome:\n{genome.describe()}", file=sys.stderr)
        try:
            genome.validate(geometry, len(data.categories), max_parameters=args.max_parameters)
        except GenomeError as exc:
            raise UsageError(f"repaired genome: {exc}") from None
    n_classes = len(data.categories)
    print(
        f"training on {len(data)} images ({geometry.width}x{geometry.height}x{geometry.channels}, "
        f"{n_classes} categories), {genome.parameter_count(geometry, n_classes):,} parameters",
        file=sys.stderr,
    )
    try:
        events = train(genome, data, options, max_parameters=args.max_parameters)
    except (TrainingError, GenomeError) as exc:
        raise UsageError(str(exc)) from None
    emit = _print_event if args.json_events else None
    try:
        result = _follow(events, quiet=args.quiet, emit=emit)
    except TrainingError as exc:
        return _fail(str(exc), emit)
    dataset_id = "" if args.npz else (args.dataset or config.dataset_id)
    try:
        bundle = save_bundle(result, out, dataset_id=dataset_id)
    except BundleError as exc:
        return _fail(str(exc), emit)
    if emit is not None:
        emit(
            "TrainFinished",
            {
                "bundle": str(bundle.path),
                "model_id": bundle.model_id,
                "accuracy": result.metrics.accuracy,
                "evaluated_on": result.metrics.evaluated_on,
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "seconds": round(result.seconds, 3),
            },
        )
    _report(result, bundle)
    return 0


def _print_event(name: str, fields: dict) -> None:
    """One event as a JSON line on stdout (the GUI reads these from its training child)."""
    line = json.dumps({"event": name, "time": round(time.time(), 3), **fields}, separators=(",", ":"))
    print(line, flush=True)


def _fail(message: str, emit) -> int:
    if emit is not None:
        emit("TrainFailed", {"message": message})
    print(f"dicebox: error: {message}", file=sys.stderr)
    return 1


def _follow(events, quiet: bool, emit=None):
    """Show a progress bar per epoch (and hand every event but the result to ``emit``); return the
    TrainResult."""
    from tqdm import tqdm

    from dicebox.nets.training import BatchProgress, EpochEnd, TrainResult, TrainStarted

    bar = None
    batches = epochs = 0

    def open_bar(epoch: int) -> tqdm:
        # Opened when the epoch starts, so tqdm's rate covers the whole epoch.
        desc = f"epoch {epoch}/{epochs}"
        return tqdm(total=batches, desc=desc, unit="batch", file=sys.stderr, disable=quiet)

    try:
        for event in events:
            if emit is not None and not isinstance(event, TrainResult):
                emit(type(event).__name__, dataclasses.asdict(event))
            if isinstance(event, TrainStarted):
                batches, epochs = event.batches, event.epochs
                bar = open_bar(1)
            elif isinstance(event, BatchProgress) and bar is not None:
                bar.update(event.batch - bar.n)
            elif isinstance(event, EpochEnd) and bar is not None:
                bar.update(batches - bar.n)
                postfix = {"loss": f"{event.loss:.4f}", "acc": f"{event.accuracy:.3f}"}
                if event.val_accuracy is not None:
                    postfix["val_acc"] = f"{event.val_accuracy:.3f}"
                bar.set_postfix(postfix, refresh=False)
                bar.close()
                bar = open_bar(event.epoch + 1) if event.epoch < event.epochs else None
            elif isinstance(event, TrainResult):
                return event
    finally:
        if bar is not None:
            bar.leave = False  # the bar of an epoch that never ran (early stop, error)
            bar.close()
        events.close()  # on Ctrl-C or an error: stop the training thread
    raise RuntimeError("training ended without a result")


def _report(result, bundle) -> None:
    metrics = result.metrics
    print(
        f"accuracy: {metrics.accuracy:.4f} on {metrics.samples} {metrics.evaluated_on} images "
        f"(best epoch {result.best_epoch} of {result.epochs_run}, {result.seconds:.1f} s)"
    )
    width = max(len(name) for name in metrics.per_class_accuracy)
    for name, accuracy in metrics.per_class_accuracy.items():
        shown = "   n/a" if accuracy is None else f"{accuracy:.4f}"
        print(f"  {name:<{width}}  {shown}")
    print(f"model bundle: {bundle.path} (model id {bundle.model_id})")
