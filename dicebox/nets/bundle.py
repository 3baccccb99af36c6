"""Model bundles: one folder holding a trained network and everything needed to use it.

::

    <bundle>/
      model.keras   the Keras 3 model (uint8 image in, softmax probabilities out)
      bundle.json   format version, model id, categories, preprocessing spec, genome, metrics,
                    data set id/version, creation time, dicebox version, model file checksum

A bundle is written to a temp folder beside its destination and renamed into place; an existing
bundle is first renamed aside, so a reader finds the old complete bundle, briefly nothing, or the
new complete bundle, never a mix. :func:`load_bundle` reads and checks ``bundle.json`` and the
model file's checksum without importing TensorFlow; :meth:`Bundle.load_model` loads the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dicebox
from dicebox.images import Geometry
from dicebox.nets.genome import Genome, GenomeError
from dicebox.nets.training import Metrics, TrainResult
from dicebox.plumbing.durable import fsync_dir, replace_dir, sibling_path, write_atomic, write_text_atomic

if TYPE_CHECKING:
    import keras

FORMAT = "dicebox.bundle"
FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
MANIFEST_FILE = "bundle.json"
PREPROCESSING_FILE = "preprocessing.json"
SCALING = "uint8 0..255, rescaled inside the model"
COLOUR_ORDER = "BGR"
# An ".old-" folder younger than this may belong to a replace in progress in another process.
_STALE_SECONDS = 30.0
_save_lock = threading.Lock()


class BundleError(Exception):
    """A model bundle that cannot be read, written or used; the message names the file."""


class IncompatibleBundle(BundleError):
    """A bundle whose image geometry or categories do not match the data set it should serve."""


def preprocessing_spec(geometry: Geometry) -> dict[str, Any]:
    """How an image must be prepared before it is fed to the model."""
    return {
        "width": geometry.width,
        "height": geometry.height,
        "channels": geometry.channels,
        "dtype": "uint8",
        "layout": "NHWC",
        "scaling": SCALING,
        "colour_order": COLOUR_ORDER,
        "resize": "centre crop to the width:height aspect ratio, then resize "
        "(INTER_AREA to shrink, INTER_LINEAR to enlarge): dicebox.images.to_geometry",
    }


@dataclass(frozen=True)
class Bundle:
    """A model bundle on disk, as described by its ``bundle.json``."""

    path: Path
    model_id: str
    categories: tuple[str, ...]
    geometry: Geometry
    genome: Genome | None
    metrics: Metrics | None
    dataset_id: str
    dataset_version: str
    created: str
    dicebox_version: str
    manifest: dict[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def category_map(self) -> dict[str, int]:
        """Category name -> output index (the original's ``category_map``)."""
        return {name: i for i, name in enumerate(self.categories)}

    def preprocessing(self) -> dict[str, Any]:
        return preprocessing_spec(self.geometry)

    def check_compatible(self, geometry: Geometry, categories: tuple[str, ...] | list[str]) -> None:
        """Raise IncompatibleBundle unless this model takes ``geometry`` images and outputs ``categories``."""
        check_compatible(self, geometry, categories)

    def load_model(self) -> keras.Model:
        """The Keras model (uncompiled: for inference and export)."""
        import keras

        try:
            model = keras.models.load_model(self.model_path, compile=False)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise BundleError(f"cannot load {self.model_path}: {exc}") from exc
        expected_in = (None, *self.geometry.shape)
        if tuple(model.input_shape) != expected_in or model.output_shape[-1] != len(self.categories):
            raise BundleError(
                f"{self.model_path}: model takes {model.input_shape} and outputs {model.output_shape[-1]} "
                f"classes, but {MANIFEST_FILE} says {expected_in} and {len(self.categories)}"
            )
        return model


def check_compatible(bundle: Bundle, geometry: Geometry, categories: tuple[str, ...] | list[str]) -> None:
    """Raise IncompatibleBundle unless ``bundle`` fits a data set of ``geometry`` and ``categories``."""
    have = bundle.geometry
    if have != geometry:
        raise IncompatibleBundle(
            f"model {bundle.model_id} expects {have.width}x{have.height} images with {have.channels} "
            f"channel(s); the data set has {geometry.width}x{geometry.height} with {geometry.channels}"
        )
    categories = tuple(categories)
    if bundle.categories != categories:
        missing = sorted(set(categories) - set(bundle.categories))
        extra = sorted(set(bundle.categories) - set(categories))
        if missing or extra:
            detail = "; ".join(
                part
                for part in (
                    f"not in the model: {', '.join(missing)}" if missing else "",
                    f"not in the data set: {', '.join(extra)}" if extra else "",
                )
                if part
            )
        else:
            detail = "same names in a different order"
        raise IncompatibleBundle(f"model {bundle.model_id} categories differ from the data set's ({detail})")


# Writing ----------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _model_id(model_sha256: str, categories: tuple[str, ...], preprocessing: dict[str, Any]) -> str:
    canonical = json.dumps({"categories": categories, "preprocessing": preprocessing}, sort_keys=True)
    return hashlib.sha256((model_sha256 + canonical).encode("utf-8")).hexdigest()[:16]


def _recover(path: Path, min_age: float) -> None:
    """Put back a bundle left renamed aside by a replace that crashed between its two renames."""
    if path.exists() or not path.parent.is_dir():
        return
    suffix = f"-{path.name}"
    old = [p for p in path.parent.iterdir() if p.name.startswith(".old-") and p.name.endswith(suffix)]
    old = [p for p in old if time.time() - p.stat().st_ctime >= min_age]
    if old:
        newest = max(old, key=lambda p: p.stat().st_ctime)
        try:
            os.rename(newest, path)
        except OSError:
            return  # another process got there first


def check_target(path: Path, marker: str, what: str) -> None:
    """Raise BundleError if ``path`` exists and is neither empty nor a folder with ``marker`` in it."""
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or (path / marker).exists())):
        raise BundleError(f"{path} exists and is not {what}; refusing to replace it")


def check_bundle_target(path: str | os.PathLike) -> None:
    """Raise BundleError if saving a bundle at ``path`` would replace something that is not a bundle."""
    check_target(Path(path), MANIFEST_FILE, "a model bundle")


def save_bundle(
    source: TrainResult | keras.Model,
    path: str | os.PathLike,
    *,
    categories: tuple[str, ...] | list[str] | None = None,
    genome: Genome | None = None,
    metrics: Metrics | None = None,
    dataset_id: str = "",
    dataset_version: str | None = None,
    training: dict[str, Any] | None = None,
) -> Bundle:
    """Write a bundle folder at ``path`` atomically, replacing an existing bundle there.

    ``source`` is a :class:`~dicebox.nets.training.TrainResult` (everything is taken from it; keyword
    arguments override) or a bare Keras model, which then needs ``categories``. The model is saved
    without optimizer state: a bundle is for classifying, and training starts a fresh optimizer.
    """
    if isinstance(source, TrainResult):
        model = source.model
        categories = tuple(categories or source.categories)
        genome = genome or source.genome
        metrics = metrics or source.metrics
        dataset_version = source.dataset_version if dataset_version is None else dataset_version
        training = training if training is not None else source.training_info()
    else:
        model = source
        if categories is None:
            raise BundleError("saving a bare model needs its categories")
        categories = tuple(categories)
    geometry = _model_geometry(model)
    if model.output_shape[-1] != len(categories):
        raise BundleError(f"model outputs {model.output_shape[-1]} classes but {len(categories)} categories were given")
    _check_categories(categories, "categories")

    path = Path(path).absolute()
    with _save_lock:
        _recover(path, min_age=0)
        check_target(path, MANIFEST_FILE, "a model bundle")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = sibling_path(path, "tmp")
        staging.mkdir()
        try:
            model_file = staging / MODEL_FILE
            _inference_copy(model).save(model_file)
            _fsync_file(model_file)
            digest = _sha256(model_file)
            preprocessing = preprocessing_spec(geometry)
            manifest = _manifest(
                model_id=_model_id(digest, categories, preprocessing),
                categories=categories,
                preprocessing=preprocessing,
                genome=genome,
                metrics=metrics,
                training=training,
                dataset_id=dataset_id,
                dataset_version=dataset_version or "",
                files={MODEL_FILE: {"sha256": digest, "bytes": model_file.stat().st_size}},
            )
            write_text_atomic(staging / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
            fsync_dir(staging)
            replace_dir(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _parse(path, manifest)


def inference_file_bytes(model: keras.Model) -> bytes:
    """The ``.keras`` file of ``model`` as a bundle holds it: no optimizer state, no augmentation."""
    with tempfile.TemporaryDirectory(prefix="dicebox-model-") as folder:
        path = Path(folder) / MODEL_FILE
        _inference_copy(model).save(path)
        return path.read_bytes()


def _inference_copy(model: keras.Model) -> keras.Model:
    """The same network and weights, uncompiled, so the file carries no optimizer state, and without
    augmentation layers (:func:`dicebox.nets.build.inference_model`)."""
    from dicebox.nets.build import inference_model

    return inference_model(model)


def _model_geometry(model: keras.Model) -> Geometry:
    shape = tuple(model.input_shape)
    if len(shape) != 4 or None in shape[1:]:
        raise BundleError(f"model input must be (batch, height, width, channels), got {shape}")
    return Geometry(width=shape[2], height=shape[1], channels=shape[3])


def _manifest(
    *,
    model_id: str,
    categories: tuple[str, ...],
    preprocessing: dict[str, Any],
    genome: Genome | None,
    metrics: Metrics | None,
    training: dict[str, Any] | None,
    dataset_id: str,
    dataset_version: str,
    files: dict[str, Any],
) -> dict[str, Any]:
    import keras

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dicebox_version": dicebox.__version__,
        "keras_version": keras.__version__,
        "categories": list(categories),
        "category_map": {name: i for i, name in enumerate(categories)},
        "preprocessing": preprocessing,
        "genome": genome.to_dict() if genome is not None else None,
        "genome_fingerprint": genome.fingerprint() if genome is not None else None,
        "metrics": metrics.to_dict() if metrics is not None else None,
        "training": training,
        "dataset": {"id": dataset_id, "version": dataset_version},
        "files": files,
    }


# Reading ----------------------------------------------------------------------------------------
def _check_categories(categories: Any, where: str) -> tuple[str, ...]:
    if not isinstance(categories, (list, tuple)) or not all(isinstance(c, str) and c for c in categories):
        raise BundleError(f"{where}: categories must be a list of names")
    if len(categories) < 2 or len(set(categories)) != len(categories):
        raise BundleError(f"{where}: need at least 2 distinct categories, got {list(categories)}")
    return tuple(categories)


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Read and check a bundle folder (no TensorFlow); BundleError says what is wrong."""
    path = Path(path).absolute()
    _recover(path, min_age=_STALE_SECONDS)
    if not path.exists():
        raise BundleError(f"no model bundle at {path}")
    if not path.is_dir():
        raise BundleError(f"{path} is not a model bundle folder")
    manifest_path = path / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path} is not a model bundle: {MANIFEST_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path} is corrupt: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{manifest_path} does not describe a dicebox model bundle")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{manifest_path}: unknown format version {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: bundle format version {version} was written by a newer dicebox; "
            f"this dicebox ({dicebox.__version__}) reads version {FORMAT_VERSION}"
        )
    model_file = path / MODEL_FILE
    if not model_file.is_file():
        raise BundleError(f"{path}: {MODEL_FILE} is missing")
    try:
        expected = manifest["files"][MODEL_FILE]["sha256"]
    except (KeyError, TypeError):
        raise BundleError(f"{manifest_path}: no checksum recorded for {MODEL_FILE}") from None
    if _sha256(model_file) != expected:
        raise BundleError(f"{model_file} is corrupt or was changed (checksum mismatch)")
    return _parse(path, manifest)


def _parse(path: Path, manifest: dict[str, Any]) -> Bundle:
    where = str(path / MANIFEST_FILE)
    try:
        categories = _check_categories(manifest["categories"], where)
        spec = manifest["preprocessing"]
        geometry = Geometry(width=int(spec["width"]), height=int(spec["height"]), channels=int(spec["channels"]))
        if spec.get("scaling") != SCALING or spec.get("colour_order") != COLOUR_ORDER:
            raise BundleError(
                f"{where}: unsupported preprocessing (scaling {spec.get('scaling')!r}, "
                f"colour order {spec.get('colour_order')!r})"
            )
        genome = Genome.from_dict(manifest["genome"]) if manifest.get("genome") is not None else None
        metrics = Metrics.from_dict(manifest["metrics"]) if manifest.get("metrics") is not None else None
        dataset = manifest.get("dataset") or {}
        return Bundle(
            path=path,
            model_id=str(manifest["model_id"]),
            categories=categories,
            geometry=geometry,
            genome=genome,
            metrics=metrics,
            dataset_id=str(dataset.get("id", "")),
            dataset_version=str(dataset.get("version", "")),
            created=str(manifest.get("created", "")),
            dicebox_version=str(manifest.get("dicebox_version", "")),
            manifest=manifest,
        )
    except GenomeError as exc:
        raise BundleError(f"{where}: invalid genome: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{where}: missing or invalid field: {exc}") from None


# Exports ----------------------------------------------------------------------------------------
def as_bundle(bundle: Bundle | str | os.PathLike) -> Bundle:
    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle)


def preprocessing_document(bundle: Bundle) -> str:
    """The ``preprocessing.json`` of an export: labels, category map, preprocessing, input and output."""
    doc = {
        "model_id": bundle.model_id,
        "categories": list(bundle.categories),
        "category_map": bundle.category_map,
        "preprocessing": bundle.preprocessing(),
        "input": {"name": "image", "dtype": "uint8", "shape": [None, *bundle.geometry.shape]},
        "output": "softmax probabilities, one per category, in category_map order",
    }
    return json.dumps(doc, indent=2) + "\n"


def export_savedmodel(bundle: Bundle | str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Export as a TensorFlow SavedModel folder (``serve`` endpoint) with ``preprocessing.json`` inside."""
    bundle = as_bundle(bundle)
    out = Path(out_dir).absolute()
    check_target(out, "saved_model.pb", "a SavedModel export")
    model = bundle.load_model()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = sibling_path(out, "tmp")
    try:
        model.export(str(staging), format="tf_saved_model", verbose=False)
        write_text_atomic(staging / PREPROCESSING_FILE, preprocessing_document(bundle))
        replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def export_tflite(
    bundle: Bundle | str | os.PathLike, out_path: str | os.PathLike, *, int8_sample: np.ndarray | None = None
) -> Path:
    """Export as a TensorFlow Lite file, with ``preprocessing.json`` written in the same folder.

    The file also carries the labels and the preprocessing as named metadata (see tflite_metadata).

    With ``int8_sample`` (uint8 images of the model's geometry, a representative part of the data
    set) weights and activations are quantised to int8; input stays uint8, output float32.
    """
    bundle = as_bundle(bundle)
    out = Path(out_path).absolute()
    if int8_sample is not None and (int8_sample.ndim != 4 or tuple(int8_sample.shape[1:]) != bundle.geometry.shape):
        raise BundleError(
            f"int8 calibration images must be {bundle.geometry.width}x{bundle.geometry.height} with "
            f"{bundle.geometry.channels} channel(s), got shape {tuple(int8_sample.shape[1:])}"
        )
    model = bundle.load_model()
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="dicebox-tflite-") as scratch:
        saved = Path(scratch) / "savedmodel"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if int8_sample is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([image[None]] for image in int8_sample)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        data = converter.convert()
    from dicebox.nets import tflite_metadata
    document = preprocessing_document(bundle)
    labels = "".join(f"{name}\n" for name in bundle.categories)
    data = tflite_metadata.embed(
        data,
        {tflite_metadata.LABELS_ENTRY: labels.encode("utf-8"), tflite_metadata.PREPROCESSING_ENTRY: document.encode()},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, data)
    write_text_atomic(out.parent / PREPROCESSING_FILE, document)
    return out
