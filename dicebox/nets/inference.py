"""Classify camera frames with a model bundle: fast, thread-safe, hot-swappable.

:class:`Classifier` loads a bundle once, compiles one ``tf.function`` with a fixed input
signature (uint8, any batch size) and warms it up, so a frame costs about a millisecond instead of
the tens of milliseconds of ``model.predict``. Every frame goes through
:func:`dicebox.images.to_geometry`, the same preprocessing the training images had.
:meth:`Classifier.swap` loads and warms a new bundle completely before replacing one reference
under a lock; a classification in flight finishes on the model it started with.

Without TensorFlow, a :class:`Classifier` runs an export kit (``dicebox export-model``) through
ONNX Runtime or LiteRT instead (:mod:`dicebox.nets.runtimes`), with the same answers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dicebox.images import Geometry, to_geometry
from dicebox.images.untrusted import DEFAULT_MAX_PIXELS, InvalidImage
from dicebox.images.untrusted import decode_image as decode_untrusted
from dicebox.nets.bundle import Bundle, check_compatible
from dicebox.nets.runtimes import ModelSource, load_runner, resolve_model

log = logging.getLogger(__name__)

ImageInput = np.ndarray | bytes | bytearray | memoryview
# Larger batches are split so one call never allocates an unbounded tensor.
MAX_BATCH = 256


class ClassifyError(ValueError):
    """An input that cannot be classified (not an image, wrong pixel type)."""


@dataclass(frozen=True)
class Classification:
    """The result for one image; ``probabilities`` maps every category to its softmax output."""

    label: str
    index: int
    confidence: float
    probabilities: dict[str, float]
    model_id: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "index": self.index,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
            "model_id": self.model_id,
            "seconds": self.seconds,
        }


def decode_image(data: bytes | bytearray | memoryview, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode PNG/JPEG bytes to a uint8 array (size read from the header first, so a decompression
    bomb is refused before any pixel is decoded)."""
    try:
        return decode_untrusted(bytes(data), max_pixels)
    except InvalidImage as exc:
        raise ClassifyError(str(exc)) from None


def prepare(image: ImageInput, geometry: Geometry) -> np.ndarray:
    """A frame (uint8 array of any size, or encoded image bytes) as a ``geometry`` model input."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = decode_image(image)
    elif not isinstance(image, np.ndarray):
        raise ClassifyError(f"expected a uint8 image array or PNG/JPEG bytes, got {type(image).__name__}")
    try:
        return to_geometry(image, geometry)
    except ValueError as exc:
        raise ClassifyError(str(exc)) from None


_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class _Engine:
    """One loaded model and its compiled call; never changes once built."""

    bundle: Bundle
    runtime: str  # keras, onnx or tflite
    call: Any  # uint8 (N, H, W, C) -> float32 numpy (N, classes)

    @classmethod
    def load(cls, source: ModelSource) -> _Engine:
        if source.runtime != "keras":
            return cls(source.bundle, source.runtime, load_runner(source))
        import tensorflow as tf

        bundle = source.bundle
        # Keras builds models in process-wide state: two threads loading at once can crash.
        with _LOAD_LOCK:
            model = bundle.load_model()
            spec = tf.TensorSpec((None, *bundle.geometry.shape), tf.uint8, name="image")
            call = tf.function(lambda x: model(x, training=False), input_signature=[spec], reduce_retracing=True)
            call(np.zeros((1, *bundle.geometry.shape), np.uint8))  # trace and warm up now, not on a frame
        return cls(bundle, "keras", lambda batch: call(batch).numpy())

    def run(self, batch: np.ndarray) -> np.ndarray:
        parts = [self.call(batch[i : i + MAX_BATCH]) for i in range(0, len(batch), MAX_BATCH)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def result(self, probabilities: np.ndarray, seconds: float) -> Classification:
        index = int(np.argmax(probabilities))
        categories = self.bundle.categories
        return Classification(
            label=categories[index],
            index=index,
            confidence=float(probabilities[index]),
            probabilities={name: float(p) for name, p in zip(categories, probabilities, strict=True)},
            model_id=self.bundle.model_id,
            seconds=seconds,
        )


class Classifier:
    """Classifies frames with the current bundle; safe to call from many threads at once."""

    def __init__(self, bundle: Bundle | str | os.PathLike, runtime: str = "auto") -> None:
        self._runtime = runtime
        self._engine = _Engine.load(_source(bundle, runtime))
        self._lock = threading.Lock()  # guards the engine reference
        self._swap_lock = threading.Lock()  # one swap at a time

    @classmethod
    def from_bundle(cls, bundle: Bundle | str | os.PathLike, runtime: str = "auto") -> Classifier:
        """Load a bundle (folder path or :class:`Bundle`), an export kit folder or an exported
        .onnx/.tflite file, and warm the model up. ``runtime``: auto, keras, onnx or tflite
        (see :func:`dicebox.nets.runtimes.resolve_model`)."""
        return cls(bundle, runtime)

    def _current(self) -> _Engine:
        with self._lock:
            return self._engine

    @property
    def bundle(self) -> Bundle:
        return self._current().bundle

    @property
    def runtime(self) -> str:
        """What runs the model: keras, onnx or tflite."""
        return self._current().runtime

    @property
    def model_id(self) -> str:
        return self._current().bundle.model_id

    @property
    def categories(self) -> tuple[str, ...]:
        return self._current().bundle.categories

    @property
    def geometry(self) -> Geometry:
        return self._current().bundle.geometry

    def classify(self, image: ImageInput) -> Classification:
        """Classify one frame: a uint8 array of any size (cropped and resized like training images)
        or PNG/JPEG bytes. Raises ClassifyError for anything else."""
        started = time.perf_counter()
        engine = self._current()  # preprocessing and model from the same bundle, even mid-swap
        batch = prepare(image, engine.bundle.geometry)[None]
        probabilities = engine.run(batch)[0]
        return engine.result(probabilities, time.perf_counter() - started)

    def classify_batch(self, images: Sequence[ImageInput]) -> list[Classification]:
        """Classify several frames in one model call; ``seconds`` is the per-image share."""
        if len(images) == 0:
            return []
        started = time.perf_counter()
        engine = self._current()
        batch = np.stack([prepare(image, engine.bundle.geometry) for image in images])
        probabilities = engine.run(batch)
        share = (time.perf_counter() - started) / len(images)
        return [engine.result(row, share) for row in probabilities]

    def check_compatible(self, geometry: Geometry, categories: Sequence[str]) -> None:
        """Raise IncompatibleBundle unless the current model fits this data set."""
        check_compatible(self._current().bundle, geometry, tuple(categories))

    def swap(
        self,
        bundle: Bundle | str | os.PathLike,
        *,
        geometry: Geometry | None = None,
        categories: Sequence[str] | None = None,
    ) -> Bundle:
        """Replace the model with ``bundle`` once it is fully loaded and warmed up.

        With ``geometry``/``categories`` the new bundle must match them (IncompatibleBundle
        otherwise). On any error the current model stays in place.
        """
        with self._swap_lock:
            source = _source(bundle, self._runtime)
            new = source.bundle
            if geometry is not None or categories is not None:
                check_compatible(
                    new,
                    geometry if geometry is not None else new.geometry,
                    tuple(categories) if categories is not None else new.categories,
                )
            engine = _Engine.load(source)
            with self._lock:
                old, self._engine = self._engine, engine
        log.info("classifier now uses model %s (was %s)", new.model_id, old.bundle.model_id)
        return new


def _source(model: Bundle | str | os.PathLike, runtime: str) -> ModelSource:
    if isinstance(model, Bundle):
        model = model.path
    return resolve_model(model, runtime)
