"""Network genomes: immutable, validated descriptions of a classifier network.

A :class:`Genome` is an optimizer name plus an ordered tuple of hidden layers. The input (uint8
image, rescaled to 0..1 inside the network) and the softmax output layer are not part of it: they
follow from the data set. Spatial layers (``conv2d``, ``maxpool2d``) work on the image; the first
``dense`` layer (or the output) turns it into a vector by the genome's ``head``: flattened, or
averaged (``global_average``) or maxed (``global_max``) over the image per channel. A spatial layer
after a dense layer is invalid; :meth:`Genome.repaired` moves such layers to just before the first
dense layer.

Training genes, each optional: ``learning_rate`` (else the optimizer's default), ``batch_size``
(else the training's), ``augmentation`` (random translation, rotation, zoom, contrast and flips,
active only while training), and per conv2d layer ``batch_norm`` (convolution, batch
normalisation, then the activation). A genome without them reads, builds and fingerprints exactly
as before they existed.

Layer-level checks (positive sizes, known names, dropout rate in [0, 1)) run on construction, so
an intrinsically broken layer cannot exist; checks that need the image size run in
:meth:`Genome.validate`. Everything here is plain Python: no TensorFlow.

JSON follows the original dicebox "lonestar" file, e.g.
``{"optimizer": "adamax", "input_shape": 784, "output_size": 10, "layers": [{"type": "dense",
"size": 987, "activation": "elu"}, {"type": "dropout", "rate": 0.2}]}``; the old layer type
``"normal"`` reads as ``"dense"``. ``input_shape``/``output_size`` are kept for round trips but are
informational: the data set decides the real input and output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dicebox.plumbing.durable import write_text_atomic

if TYPE_CHECKING:
    from dicebox.images import Geometry

ACTIVATIONS: tuple[str, ...] = (
    "relu",
    "elu",
    "selu",
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "softplus",
    "softsign",
    "softmax",
    "linear",
    "gelu",
    "swish",
    "leaky_relu",
    "relu6",
)
OPTIMIZERS: tuple[str, ...] = ("adam", "adamax", "nadam", "rmsprop", "sgd", "adagrad", "adadelta", "adamw")
PADDINGS: tuple[str, ...] = ("same", "valid")
#: How the image becomes a vector before the dense layers: flattened, or pooled over height and width.
HEADS: tuple[str, ...] = ("flatten", "global_average", "global_max")
#: Kinds of in-model augmentation; the first four are strengths in [0, 1), the flips on or off.
AUGMENTATIONS: tuple[str, ...] = ("translation", "rotation", "zoom", "contrast", "horizontal_flip", "vertical_flip")

# Keras 3 defaults except where they do not train small image models well: Adadelta's 0.001 barely
# moves (Keras 2 and the original used 1.0), SGD and Adagrad want a larger step.
DEFAULT_LEARNING_RATES: dict[str, float] = {
    "adam": 1e-3,
    "adamax": 2e-3,
    "nadam": 1e-3,
    "rmsprop": 1e-3,
    "adamw": 1e-3,
    "sgd": 1e-2,
    "adagrad": 1e-2,
    "adadelta": 1.0,
}
MAX_LEARNING_RATE = 10.0
MAX_BATCH_SIZE = 65_536


# Guards checked before anything is built: a genome file is user input, and Keras takes minutes (or
# hangs) on a network far past these sizes before it fails.
MAX_LAYERS = 256
MAX_GENOME_BYTES = 1_000_000
DEFAULT_MAX_PARAMETERS = 50_000_000  # about 800 MB with Adam's state; `dicebox train --max-parameters` raises it


class GenomeError(ValueError):
    """A genome that cannot become a working network; the message says which layer and why."""


class GenomeTooLarge(GenomeError):
    """A genome past a size limit (layers, parameters, file size): no repair makes it fit."""


def _int(value: Any, what: str) -> int:
    # JSON written by other tools may say 987.0; a bool is never a size.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GenomeError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise GenomeError(f"{what} must be a whole number, got {value!r}")
        value = int(value)
    if value < 1:
        raise GenomeError(f"{what} must be at least 1, got {value}")
    return value


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise GenomeError(f"{what} must be one number or two [height, width], got {list(value)!r}")
        return (_int(value[0], what), _int(value[1], what))
    n = _int(value, what)
    return (n, n)


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise GenomeError(f"unknown {what} {value!r} (expected one of {', '.join(allowed)})")
    return value.lower()


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # normalising fields of a frozen dataclass


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise GenomeError(f"{what} must be true or false, got {value!r}")
    return value


def _strength(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise GenomeError(f"{what} must be a number in [0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DenseLayer:
    """A fully connected layer of ``size`` units."""

    size: int
    activation: str = "relu"
    type: ClassVar[str] = "dense"

    def __post_init__(self) -> None:
        _set(self, "size", _int(self.size, "dense size"))
        _set(self, "activation", _choice(self.activation, ACTIVATIONS, "activation"))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "size": self.size, "activation": self.activation}


@dataclass(frozen=True)
class DropoutLayer:
    """Drops a fraction ``rate`` (0 <= rate < 1) of its inputs while training."""

    rate: float
    type: ClassVar[str] = "dropout"

    def __post_init__(self) -> None:
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise GenomeError(f"dropout rate must be a number in [0, 1), got {rate!r}")
        _set(self, "rate", float(rate))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "rate": self.rate}


@dataclass(frozen=True)
class Conv2DLayer:
    """A 2-D convolution; ``kernel_size`` and ``strides`` are (height, width).

    With ``batch_norm`` the convolution (without bias) is followed by batch normalisation and only
    then by the activation.
    """

    filters: int
    kernel_size: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: str = "same"
    activation: str = "relu"
    batch_norm: bool = False
    type: ClassVar[str] = "conv2d"

    def __post_init__(self) -> None:
        _set(self, "filters", _int(self.filters, "conv2d filters"))
        _set(self, "kernel_size", _pair(self.kernel_size, "conv2d kernel_size"))
        _set(self, "strides", _pair(self.strides, "conv2d strides"))
        _set(self, "padding", _choice(self.padding, PADDINGS, "padding"))
        _set(self, "activation", _choice(self.activation, ACTIVATIONS, "activation"))
        _set(self, "batch_norm", _bool(self.batch_norm, "conv2d batch_norm"))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "activation": self.activation,
        }
        if self.batch_norm:  # written only when on: older genomes keep their JSON and fingerprint
            data["batch_norm"] = True
        return data


@dataclass(frozen=True)
class MaxPool2DLayer:
    """Max pooling over (height, width) windows, stride = window, no padding."""

    pool_size: tuple[int, int] = (2, 2)
    type: ClassVar[str] = "maxpool2d"

    def __post_init__(self) -> None:
        _set(self, "pool_size", _pair(self.pool_size, "maxpool2d pool_size"))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "pool_size": list(self.pool_size)}


@dataclass(frozen=True)
class Augmentation:
    """Random changes to every training image, inside the network (inactive when classifying).

    Strengths are fractions as Keras takes them: ``translation`` of the height and width,
    ``rotation`` of a full turn, ``zoom`` of the size, ``contrast`` of the contrast. Flips are off
    unless asked for: most image classes (digits, letters, many objects) are not mirror-symmetric.
    """

    translation: float = 0.0
    rotation: float = 0.0
    zoom: float = 0.0
    contrast: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False

    def __post_init__(self) -> None:
        for name in ("translation", "rotation", "zoom", "contrast"):
            _set(self, name, _strength(getattr(self, name), f"augmentation {name}"))
        for name in ("horizontal_flip", "vertical_flip"):
            _set(self, name, _bool(getattr(self, name), f"augmentation {name}"))

    @property
    def active(self) -> bool:
        return self != Augmentation()

    def to_dict(self) -> dict[str, Any]:
        """Only what is switched on (an empty object means no augmentation)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name)}

    @classmethod
    def from_dict(cls, data: Any) -> Augmentation:
        if not isinstance(data, dict):
            raise GenomeError(f"augmentation must be a JSON object, got {data!r}")
        unknown = sorted(set(data) - set(AUGMENTATIONS))
        if unknown:
            raise GenomeError(
                f"unknown augmentation {', '.join(map(repr, unknown))} (expected some of {', '.join(AUGMENTATIONS)})"
            )
        return cls(**data)


Layer = DenseLayer | DropoutLayer | Conv2DLayer | MaxPool2DLayer
SPATIAL_LAYERS = (Conv2DLayer, MaxPool2DLayer)
LAYER_TYPES: dict[str, type] = {
    "dense": DenseLayer,
    "normal": DenseLayer,  # the original's name for dense
    "dropout": DropoutLayer,
    "conv2d": Conv2DLayer,
    "maxpool2d": MaxPool2DLayer,
    "max_pooling2d": MaxPool2DLayer,
}


def layer_from_dict(data: Any, position: int = 0) -> Layer:
    """One layer from its JSON object; ``position`` (1-based) only improves error messages."""
    where = f"layer {position}: " if position else ""
    if not isinstance(data, dict):
        raise GenomeError(f"{where}expected a JSON object, got {data!r}")
    kind = data.get("type")
    cls = LAYER_TYPES.get(kind.lower()) if isinstance(kind, str) else None
    if cls is None:
        raise GenomeError(f"{where}unknown layer type {kind!r} (expected one of dense, dropout, conv2d, maxpool2d)")
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
    missing = sorted(required - data.keys())
    if missing:
        raise GenomeError(f"{where}{cls.type} layer needs {', '.join(missing)}")
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except GenomeError as exc:
        raise GenomeError(f"{where}{exc}") from None


# Shapes while walking the layers: (height, width, channels) on the image, (units,) once flat.
Shape = tuple[int, ...]


@dataclass(frozen=True)
class Genome:
    """An optimizer and the hidden layers of a classifier, in order, plus optional training genes."""

    layers: tuple[Layer, ...]
    optimizer: str = "adam"
    input_shape: Any = None
    output_size: int | None = None
    head: str = "flatten"
    learning_rate: float | None = None  # None: the optimizer's default (DEFAULT_LEARNING_RATES)
    batch_size: int | None = None  # None: the training's batch size
    augmentation: Augmentation = Augmentation()

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise GenomeError("a genome needs at least one layer")
        _check_layer_count(len(layers))
        for i, layer in enumerate(layers, 1):
            if not isinstance(layer, (DenseLayer, DropoutLayer, Conv2DLayer, MaxPool2DLayer)):
                raise GenomeError(f"layer {i}: not a layer: {layer!r}")
        _set(self, "layers", layers)
        _set(self, "optimizer", _choice(self.optimizer, OPTIMIZERS, "optimizer"))
        if isinstance(self.input_shape, list):
            _set(self, "input_shape", tuple(self.input_shape))
        _set(self, "head", _choice(self.head, HEADS, "head"))
        rate = self.learning_rate
        if rate is not None:
            if (
                isinstance(rate, bool)
                or not isinstance(rate, (int, float))
                or not 0 < rate <= MAX_LEARNING_RATE
                or not math.isfinite(rate)
            ):
                raise GenomeError(f"learning_rate must be a number in (0, {MAX_LEARNING_RATE:g}], got {rate!r}")
            _set(self, "learning_rate", float(rate))
        if self.batch_size is not None:
            size = _int(self.batch_size, "batch_size")
            if size > MAX_BATCH_SIZE:
                raise GenomeError(f"batch_size must be at most {MAX_BATCH_SIZE:,}, got {size:,}")
            _set(self, "batch_size", size)
        if not isinstance(self.augmentation, Augmentation):
            raise GenomeError(f"augmentation must be an Augmentation, got {self.augmentation!r}")

    def genes(self) -> dict[str, Any]:
        """The training genes that differ from their defaults, as JSON (what older genomes lack)."""
        data: dict[str, Any] = {}
        if self.head != "flatten":
            data["head"] = self.head
        if self.learning_rate is not None:
            data["learning_rate"] = self.learning_rate
        if self.batch_size is not None:
            data["batch_size"] = self.batch_size
        if self.augmentation.active:
            data["augmentation"] = self.augmentation.to_dict()
        return data

    # JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The lonestar JSON object (key order as the original, training genes before the layers)."""
        data: dict[str, Any] = {"optimizer": self.optimizer}
        if self.input_shape is not None:
            shape = self.input_shape
            data["input_shape"] = list(shape) if isinstance(shape, tuple) else shape
        if self.output_size is not None:
            data["output_size"] = self.output_size
        data.update(self.genes())
        data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Genome:
        if not isinstance(data, dict):
            raise GenomeError(f"a genome must be a JSON object, got {type(data).__name__}")
        if "layers" not in data or not isinstance(data["layers"], list):
            raise GenomeError("a genome needs a 'layers' list")
        _check_layer_count(len(data["layers"]))
        layers = tuple(layer_from_dict(item, i) for i, item in enumerate(data["layers"], 1))
        output_size = data.get("output_size")
        if output_size is not None:
            output_size = _int(output_size, "output_size")
        augmentation = data.get("augmentation")
        return cls(
            layers=layers,
            optimizer=data.get("optimizer", "adam"),
            input_shape=data.get("input_shape"),
            output_size=output_size,
            head=data.get("head", "flatten"),
            learning_rate=data.get("learning_rate"),
            batch_size=data.get("batch_size"),
            augmentation=Augmentation() if augmentation is None else Augmentation.from_dict(augmentation),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Genome:
        if len(text) > MAX_GENOME_BYTES:
            raise GenomeTooLarge(f"genome JSON is {len(text):,} bytes, more than the limit of {MAX_GENOME_BYTES:,}")
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GenomeError(f"not valid JSON: {exc}") from None
        except RecursionError:
            raise GenomeError("not a genome: the JSON is nested too deeply") from None
        return cls.from_dict(data)

    def fingerprint(self) -> str:
        """A stable 16-hex-digit hash of the architecture (optimizer, layers, genes) for caches.

        ``input_shape``/``output_size`` are left out: the data decides those, and caches key on
        the data set version separately. Genes at their defaults are left out too, so a genome
        written before they existed keeps its fingerprint.
        """
        canonical = json.dumps(
            {"optimizer": self.optimizer, "layers": [layer.to_dict() for layer in self.layers], **self.genes()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    # Validation -------------------------------------------------------------------------------
    def shapes(self, geometry: Geometry) -> list[Shape]:
        """The output shape of every layer for images of ``geometry``; GenomeError if impossible."""
        shape: Shape = (geometry.height, geometry.width, geometry.channels)
        flat = False
        out: list[Shape] = []
        for i, layer in enumerate(self.layers, 1):
            if isinstance(layer, SPATIAL_LAYERS) and flat:
                raise GenomeError(
                    f"layer {i}: {layer.type} after a dense layer (the image is already flattened); "
                    "spatial layers must come before the first dense layer"
                )
            if isinstance(layer, Conv2DLayer):
                shape = _conv_shape(layer, shape, i)
            elif isinstance(layer, MaxPool2DLayer):
                shape = _pool_shape(layer, shape, i)
            elif isinstance(layer, DenseLayer):
                flat = True
                shape = (layer.size,)
            out.append(shape)
        return out

    def head_shape(self, shape: Shape) -> Shape:
        """The vector an image-shaped ``shape`` becomes through the head (a vector stays as it is)."""
        if len(shape) != 3:
            return shape
        return (math.prod(shape),) if self.head == "flatten" else (shape[-1],)

    def validate(
        self, geometry: Geometry, n_classes: int, *, max_parameters: int | None = DEFAULT_MAX_PARAMETERS
    ) -> None:
        """Raise GenomeError unless this genome builds a working network for the data set.

        ``max_parameters`` None means no limit; a network past the limit raises GenomeTooLarge.
        """
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise GenomeError(f"a classifier needs at least 2 classes, got {n_classes!r}")
        count = self.parameter_count(geometry, n_classes)
        if max_parameters is not None and count > max_parameters:
            raise GenomeTooLarge(f"network has {count:,} parameters, more than the limit of {max_parameters:,}")

    def validated(
        self, geometry: Geometry, n_classes: int, *, max_parameters: int | None = DEFAULT_MAX_PARAMETERS
    ) -> Genome:
        """``self`` after :meth:`validate`, for chaining."""
        self.validate(geometry, n_classes, max_parameters=max_parameters)
        return self

    def parameter_count(self, geometry: Geometry, n_classes: int) -> int:
        """The number of weights of the built network (including the output layer), as Keras'
        ``count_params``: batch normalisation's moving mean and variance count too."""
        shape: Shape = (geometry.height, geometry.width, geometry.channels)
        total = 0
        for layer, out in zip(self.layers, self.shapes(geometry), strict=True):
            if isinstance(layer, Conv2DLayer):
                kh, kw = layer.kernel_size
                if layer.batch_norm:  # no bias; scale, offset, moving mean and variance per filter
                    total += kh * kw * shape[-1] * layer.filters + 4 * layer.filters
                else:
                    total += (kh * kw * shape[-1] + 1) * layer.filters
            elif isinstance(layer, DenseLayer):
                total += (math.prod(self.head_shape(shape)) + 1) * layer.size
            shape = out
        return total + (math.prod(self.head_shape(shape)) + 1) * n_classes

    def repaired(self, geometry: Geometry) -> Genome:
        """A genome that is valid for ``geometry``, changed as little as this rule allows.

        The rule: (1) conv2d/maxpool2d layers found after the first dense layer move, in their
        order, to just before it; (2) walking the image size through the layers, every conv2d
        kernel and pooling window larger than its input is shrunk to the input (per axis), so no
        size can collapse to 0. Nothing else changes; returns ``self`` if nothing had to.
        """
        first_dense = next((i for i, la in enumerate(self.layers) if isinstance(la, DenseLayer)), None)
        layers = list(self.layers)
        if first_dense is not None:
            head, tail = layers[:first_dense], layers[first_dense:]
            moved = [la for la in tail if isinstance(la, SPATIAL_LAYERS)]
            layers = head + moved + [la for la in tail if not isinstance(la, SPATIAL_LAYERS)]
        height, width = geometry.height, geometry.width
        fixed: list[Layer] = []
        for layer in layers:
            if isinstance(layer, Conv2DLayer):
                kernel = (min(layer.kernel_size[0], height), min(layer.kernel_size[1], width))
                if kernel != layer.kernel_size:
                    layer = dataclasses.replace(layer, kernel_size=kernel)
                height, width = _conv_out(height, width, layer)
            elif isinstance(layer, MaxPool2DLayer):
                pool = (min(layer.pool_size[0], height), min(layer.pool_size[1], width))
                if pool != layer.pool_size:
                    layer = dataclasses.replace(layer, pool_size=pool)
                height, width = height // pool[0], width // pool[1]
            fixed.append(layer)
        if tuple(fixed) == self.layers:
            return self
        return dataclasses.replace(self, layers=tuple(fixed))

    def describe(self) -> str:
        """One line per layer, for logs and the CLI."""
        lines = [f"optimizer {self.optimizer}"]
        for name, value in self.genes().items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            lines.append(f"{name} {value}")
        for layer in self.layers:
            fields = ", ".join(f"{k}={v}" for k, v in layer.to_dict().items() if k != "type")
            lines.append(f"{layer.type}({fields})")
        return "\n".join(lines)


def _check_layer_count(count: int) -> None:
    if count > MAX_LAYERS:
        raise GenomeTooLarge(f"a genome has at most {MAX_LAYERS} layers, this one has {count:,}")


def _conv_out(height: int, width: int, layer: Conv2DLayer) -> tuple[int, int]:
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    if layer.padding == "same":
        return -(-height // sh), -(-width // sw)
    return (height - kh) // sh + 1, (width - kw) // sw + 1


def _conv_shape(layer: Conv2DLayer, shape: Shape, position: int) -> Shape:
    height, width = shape[0], shape[1]
    kh, kw = layer.kernel_size
    if kh > height or kw > width:
        raise GenomeError(
            f"layer {position}: conv2d kernel {kh}x{kw} (height x width) is larger than its input {height}x{width}"
        )
    out_h, out_w = _conv_out(height, width, layer)
    if out_h < 1 or out_w < 1:
        raise GenomeError(f"layer {position}: conv2d output size collapses to {out_h}x{out_w}")
    return (out_h, out_w, layer.filters)


def _pool_shape(layer: MaxPool2DLayer, shape: Shape, position: int) -> Shape:
    height, width = shape[0], shape[1]
    ph, pw = layer.pool_size
    if ph > height or pw > width:
        raise GenomeError(
            f"layer {position}: maxpool2d window {ph}x{pw} is larger than its input {height}x{width} "
            "(the size would collapse to 0)"
        )
    return (height // ph, width // pw, shape[2])


def default_genome() -> Genome:
    """A sound small CNN that learns small image classes quickly."""
    return Genome(
        layers=(
            Conv2DLayer(16, (3, 3), padding="same", activation="relu"),
            MaxPool2DLayer((2, 2)),
            Conv2DLayer(32, (3, 3), padding="same", activation="relu"),
            MaxPool2DLayer((2, 2)),
            DenseLayer(64, "relu"),
            DropoutLayer(0.3),
        ),
        optimizer="adam",
    )


def load_genome(path: str | os.PathLike) -> Genome:
    """Read a genome (lonestar) JSON file; GenomeError names the file on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenomeError(f"genome file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GenomeError(f"cannot read genome file {path}: {exc}") from None
    try:
        return Genome.from_json(text)
    except GenomeError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def save_genome(genome: Genome, path: str | os.PathLike) -> None:
    """Write a genome JSON file atomically."""
    write_text_atomic(Path(path), genome.to_json() + "\n")


# Populations ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoredGenome:
    """A population member: a genome and its accuracy (None when not evaluated or failed)."""

    genome: Genome
    accuracy: float | None = None


@dataclass(frozen=True)
class Population:
    """One saved generation, as the original's ``population.json``."""

    members: tuple[ScoredGenome, ...]

    def __post_init__(self) -> None:
        _set(self, "members", tuple(self.members))

    @property
    def average_accuracy(self) -> float | None:
        scores = [m.accuracy for m in self.members if m.accuracy is not None]
        return sum(scores) / len(scores) if scores else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "population": [{"accuracy": m.accuracy, "genome": m.genome.to_dict()} for m in self.members],
            "average_accuracy": self.average_accuracy,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Population:
        """Read the original format; ``average_accuracy`` is recomputed, not trusted."""
        if not isinstance(data, dict) or not isinstance(data.get("population"), list):
            raise GenomeError("a population file needs a 'population' list")
        members = []
        for i, item in enumerate(data["population"], 1):
            if not isinstance(item, dict) or "genome" not in item:
                raise GenomeError(f"population member {i}: needs a 'genome'")
            accuracy = item.get("accuracy")
            if accuracy is not None and (isinstance(accuracy, bool) or not isinstance(accuracy, int | float)):
                raise GenomeError(f"population member {i}: accuracy must be a number or null")
            try:
                genome = Genome.from_dict(item["genome"])
            except GenomeError as exc:
                raise GenomeError(f"population member {i}: {exc}") from None
            members.append(ScoredGenome(genome, None if accuracy is None else float(accuracy)))
        return cls(tuple(members))


def read_population(path: str | os.PathLike) -> Population:
    """Read a ``population.json`` file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenomeError(f"population file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenomeError(f"cannot read population file {path}: {exc}") from None
    except RecursionError:
        raise GenomeError(f"cannot read population file {path}: the JSON is nested too deeply") from None
    try:
        return Population.from_dict(data)
    except GenomeError as exc:
        raise GenomeError(f"{path}: {exc}") from None


def write_population(path: str | os.PathLike, population: Population) -> None:
    """Write ``population.json`` atomically, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(population.to_dict(), indent=2) + "\n")
