"""``dicebox export-model``: write a model bundle as a Keras, SavedModel, TFLite or ONNX export kit."""

from __future__ import annotations

import argparse
from pathlib import Path

from dicebox.cli import UsageError
from dicebox.cli.serve import add_config_arguments, config_from_args


def register(subparsers) -> None:
    from dicebox.nets.export import FORMATS

    parser = subparsers.add_parser(
        "export-model", help="export a model bundle for other tools (labels, preprocessing and example included)"
    )
    add_config_arguments(parser)
    parser.add_argument("bundle", metavar="BUNDLE", help="model bundle folder")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="model format")
    parser.add_argument("--out", metavar="PATH", required=True, help="folder to write the kit to (replaced)")
    parser.add_argument("--int8", action="store_true", help="quantise to int8 (tflite; needs --calibrate)")
    parser.add_argument(
        "--calibrate",
        metavar="DATASET",
        help="images for int8 calibration: a data set id in the store, or an .npz file (as for dicebox train)",
    )
    parser.set_defaults(func=run)


def _calibration_images(args: argparse.Namespace):
    from dicebox.cli.train import load_npz
    from dicebox.nets.export import calibration_sample

    if args.calibrate.endswith(".npz"):
        data = load_npz(Path(args.calibrate))
    else:
        from dicebox.store import DatasetStore, StoreError

        config = config_from_args(args)
        store = DatasetStore.from_config(config)
        try:
            data = store.dataset(args.calibrate, create=False).arrays()
        except StoreError as exc:
            raise UsageError(f"--calibrate: {exc}") from None
        finally:
            store.close()
    if len(data) == 0:
        raise UsageError(f"--calibrate {args.calibrate}: no images")
    return calibration_sample(data.images, data.labels)


def run(args: argparse.Namespace) -> int:
    from dicebox.nets.bundle import BundleError, load_bundle
    from dicebox.nets.export import export_model

    if args.int8 and not args.calibrate:
        raise UsageError("--int8 needs --calibrate DATASET (a representative sample of the images)")
    if args.calibrate and not args.int8:
        raise UsageError("--calibrate is only used with --int8")
    if args.int8 and args.format != "tflite":
        raise UsageError(f"--int8 is for --format tflite, not {args.format}")
    try:
        bundle = load_bundle(args.bundle)
    except BundleError as exc:
        raise UsageError(str(exc)) from None
    sample = _calibration_images(args) if args.int8 else None
    try:
        out = export_model(bundle, args.format, args.out, int8_sample=sample)
    except BundleError as exc:
        raise UsageError(str(exc)) from None
    print(f"exported model {bundle.model_id} as {args.format}{' (int8)' if args.int8 else ''} to {out}")
    return 0
