"""Runtimes that classify without TensorFlow: ONNX Runtime and LiteRT, on an export kit.

``dicebox export-model`` writes a kit (``model.onnx`` or ``model.tflite`` plus ``preprocessing.json``).
:func:`resolve_model` decides what a path given to ``dicebox serve --model`` is (a bundle folder, a
kit folder, or a model file inside a kit) and which runtime runs it; :func:`load_runner` opens the
model with that runtime and returns one function ``uint8 (N, H, W, C) batch -> float32 (N, classes)``.
Nothing here imports TensorFlow unless the Keras runtime or LiteRT's fallback is chosen.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicebox.images import Geometry
from dicebox.nets.bundle import MANIFEST_FILE, PREPROCESSING_FILE, Bundle, BundleError, load_bundle

RUNTIMES = ("auto", "keras", "onnx", "tflite")
MODEL_FILES = {"onnx": "model.onnx", "tflite": "model.tflite"}
Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModelSource:
    """What to load: the bundle description, the runtime, and the model file for a light runtime."""

    bundle: Bundle
    runtime: str  # keras, onnx or tflite
    model_file: Path | None  # None for keras (the bundle's model.keras)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _tflite_available() -> bool:
    return installed("ai_edge_litert") or installed("tensorflow")


def _kit_description(folder: Path) -> Bundle:
    """A :class:`Bundle` for an export kit, read from its ``preprocessing.json`` (no genome, no metrics)."""
    spec_path = folder / PREPROCESSING_FILE
    try:
        doc = json.loads(spec_path.read_text(encoding="utf-8"))
        spec = doc["preprocessing"]
        categories = tuple(str(c) for c in doc["categories"])
        geometry = Geometry(width=int(spec["width"]), height=int(spec["height"]), channels=int(spec["channels"]))
        model_id = str(doc["model_id"])
    except FileNotFoundError:
        raise BundleError(
            f"{folder} is neither a model bundle nor an export kit: no {MANIFEST_FILE} or {PREPROCESSING_FILE}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{spec_path} is corrupt: {exc}") from None
    if len(categories) < 2:
        raise BundleError(f"{spec_path}: need at least 2 categories, got {list(categories)}")
    return Bundle(
        path=folder,
        model_id=model_id,
        categories=categories,
        geometry=geometry,
        genome=None,
        metrics=None,
        dataset_id="",
        dataset_version="",
        created="",
        dicebox_version="",
        manifest=doc,
    )


def resolve_model(path: str | os.PathLike, runtime: str = "auto") -> ModelSource:
    """What ``path`` holds and which runtime runs it; BundleError says why it cannot be served.

    ``auto`` takes the Keras bundle when TensorFlow is installed; for an export kit it prefers
    ONNX Runtime, then LiteRT, then Keras, among the model files the kit has and the runtimes installed.
    """
    if runtime not in RUNTIMES:
        raise BundleError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    path = Path(path).absolute()
    if path.is_file():
        kind = {".onnx": "onnx", ".tflite": "tflite"}.get(path.suffix.lower())
        if kind is None or runtime not in ("auto", kind):
            raise BundleError(
                f"{path}: expected a .onnx or .tflite file from dicebox export-model for runtime {runtime}"
            )
        return _light(_kit_description(path.parent), kind, path)
    if (path / MANIFEST_FILE).is_file():
        bundle = load_bundle(path)
        if runtime not in ("auto", "keras"):
            raise BundleError(
                f"{path} is a Keras bundle: the {runtime} runtime needs an export "
                f"(dicebox export-model {path} --format {runtime} --out KIT)"
            )
        if not installed("tensorflow"):
            raise BundleError(
                f"{path} is a Keras bundle and TensorFlow is not installed: serve an ONNX or TFLite export of it "
                "(dicebox export-model on a machine with TensorFlow)"
            )
        return ModelSource(bundle, "keras", None)
    if not path.is_dir():
        raise BundleError(f"no model bundle or export at {path}")
    description = _kit_description(path)
    wanted = ["onnx", "tflite", "keras"] if runtime == "auto" else [runtime]
    usable = {"onnx": installed("onnxruntime"), "tflite": _tflite_available(), "keras": installed("tensorflow")}
    for kind in wanted:
        model_file = path / MODEL_FILES.get(kind, "model.keras")
        if model_file.is_file() and usable[kind]:
            if kind == "keras":
                return ModelSource(description, "keras", model_file)
            return _light(description, kind, model_file)
    have = sorted(p.name for p in path.iterdir() if p.name in ("model.onnx", "model.tflite", "model.keras"))
    raise BundleError(
        f"{path}: no runnable model for runtime {runtime} (the kit has {', '.join(have) or 'no model'}; "
        f"installed: {', '.join(k for k, ok in usable.items() if ok) or 'none of onnxruntime, ai-edge-litert, tensorflow'})"
    )


def _light(description: Bundle, kind: str, model_file: Path) -> ModelSource:
    if kind == "onnx" and not installed("onnxruntime"):
        raise BundleError(f"{model_file}: onnxruntime is not installed (pip install onnxruntime)")
    if kind == "tflite" and not _tflite_available():
        raise BundleError(
            f"{model_file}: neither ai-edge-litert nor tensorflow is installed (pip install ai-edge-litert)"
        )
    return ModelSource(description, kind, model_file)


def load_runner(source: ModelSource) -> Runner:
    """The model of ``source`` (onnx or tflite) as one batch function, warmed up."""
    shape = source.bundle.geometry.shape
    runner = _onnx_runner(source.model_file) if source.runtime == "onnx" else _tflite_runner(source.model_file)
    out = runner(np.zeros((1, *shape), np.uint8))
    if out.shape != (1, len(source.bundle.categories)):
        raise BundleError(
            f"{source.model_file} outputs {out.shape[-1]} classes but {PREPROCESSING_FILE} names "
            f"{len(source.bundle.categories)} categories"
        )
    return runner


def _onnx_runner(model_file: Path) -> Runner:
    import onnxruntime
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    unreadable = (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.Fail, ort_errors.NoSuchFile)
    try:
        session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    except unreadable as exc:
        raise BundleError(f"cannot load {model_file}: {exc}") from None
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]  # InferenceSession.run is thread-safe

    return run


def _tflite_runner(model_file: Path) -> Runner:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TensorFlow's "tf.lite.Interpreter is deprecated"
            interpreter = Interpreter(model_path=str(model_file))
    except (ValueError, RuntimeError) as exc:
        raise BundleError(f"cannot load {model_file}: {exc}") from None
    entry = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]
    lock = threading.Lock()  # an interpreter runs one call at a time
    size = [0]

    def run(batch: np.ndarray) -> np.ndarray:
        with lock:
            if len(batch) != size[0]:
                interpreter.resize_tensor_input(entry, list(batch.shape))
                interpreter.allocate_tensors()
                size[0] = len(batch)
            interpreter.set_tensor(entry, batch)
            interpreter.invoke()
            return interpreter.get_tensor(output).astype(np.float32, copy=True)

    return run
