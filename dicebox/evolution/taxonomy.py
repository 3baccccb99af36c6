"""The search space of network evolution: which layers, sizes, activations and optimizers exist.

Built from the ``[TAXONOMY]`` configuration section (the original's neurons and layer ranges,
layer types, activations, optimizers, and the newer genes: batch normalisation, heads, learning
rates, batch sizes, augmentations), plus ranges the file has no key for (conv2d filters, kernel
sizes, strides, dropout rates, pooling windows, a parameter limit).

An empty ``learning_rates``, ``batch_sizes`` or ``augmentations`` leaves that gene out of the
search (the optimizer's default rate, the training's batch size, no augmentation); ``heads`` =
``flatten`` and ``batch_norm`` = false do the same for those two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from dicebox.nets.genome import (
    ACTIVATIONS,
    AUGMENTATIONS,
    HEADS,
    LAYER_TYPES,
    MAX_BATCH_SIZE,
    MAX_LEARNING_RATE,
    OPTIMIZERS,
    PADDINGS,
)

if TYPE_CHECKING:
    from dicebox.config import TaxonomyConfig

# The genome's own spellings for the layer types a taxonomy may list.
_CANONICAL = {name: cls.type for name, cls in LAYER_TYPES.items()}


def _tuple(values: Any, what: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    items = tuple(str(v).strip().lower() for v in values)
    if not items:
        raise ValueError(f"taxonomy: {what} must not be empty")
    if allowed is not None:
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise ValueError(f"taxonomy: unknown {what} {', '.join(unknown)} (known: {', '.join(allowed)})")
    return tuple(dict.fromkeys(items))


def _range(low: int, high: int, what: str) -> None:
    if low < 1 or high < low:
        raise ValueError(f"taxonomy: {what} range must satisfy 1 <= min <= max, got {low}..{high}")


@dataclass(frozen=True)
class Taxonomy:
    """Everything a random or mutated genome may contain; validated on construction."""

    min_neurons: int = 8
    max_neurons: int = 256
    min_layers: int = 1
    max_layers: int = 6
    layer_types: tuple[str, ...] = ("dropout", "dense", "conv2d", "maxpool2d")
    activations: tuple[str, ...] = ("relu", "elu", "tanh", "sigmoid", "selu")
    optimizers: tuple[str, ...] = ("adam", "adamax", "nadam", "rmsprop", "sgd")
    min_filters: int = 4
    max_filters: int = 64
    kernel_sizes: tuple[int, ...] = (1, 2, 3, 5)
    strides: tuple[int, ...] = (1, 2)
    paddings: tuple[str, ...] = PADDINGS
    pool_sizes: tuple[int, ...] = (2, 3)
    max_dropout: float = 0.6
    # Larger networks are resampled: they train too slowly on a laptop to be worth a slot.
    max_parameters: int | None = 2_000_000
    batch_norm: bool = True
    heads: tuple[str, ...] = ("flatten", "global_average")
    # Log-spaced: a mutation moves one step, so a rate a factor of about 3 away.
    learning_rates: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003, 0.01)
    batch_sizes: tuple[int, ...] = (32, 64, 128)
    # No flips by default: digits, letters and most objects are not mirror-symmetric.
    augmentations: tuple[str, ...] = ("translation", "rotation", "zoom", "contrast")
    augmentation_levels: tuple[float, ...] = (0.05, 0.1, 0.2)

    def __post_init__(self) -> None:
        _range(self.min_neurons, self.max_neurons, "neurons")
        _range(self.min_layers, self.max_layers, "layer count")
        _range(self.min_filters, self.max_filters, "conv2d filters")
        kinds = _tuple(self.layer_types, "layer type", tuple(_CANONICAL))
        object.__setattr__(self, "layer_types", tuple(dict.fromkeys(_CANONICAL[k] for k in kinds)))
        object.__setattr__(self, "activations", _tuple(self.activations, "activation", ACTIVATIONS))
        object.__setattr__(self, "optimizers", _tuple(self.optimizers, "optimizer", OPTIMIZERS))
        object.__setattr__(self, "paddings", _tuple(self.paddings, "padding", PADDINGS))
        for name in ("kernel_sizes", "strides", "pool_sizes"):
            values = tuple(int(v) for v in getattr(self, name))
            if not values or min(values) < 1:
                raise ValueError(f"taxonomy: {name} must be positive whole numbers, got {values}")
            object.__setattr__(self, name, values)
        if not 0 <= self.max_dropout < 1:
            raise ValueError(f"taxonomy: max_dropout must be in [0, 1), got {self.max_dropout}")
        if self.max_parameters is not None and self.max_parameters < 1:
            raise ValueError(f"taxonomy: max_parameters must be positive, got {self.max_parameters}")
        if not isinstance(self.batch_norm, bool):
            raise ValueError(f"taxonomy: batch_norm must be true or false, got {self.batch_norm!r}")
        object.__setattr__(self, "heads", _tuple(self.heads, "head", HEADS))
        rates = tuple(sorted({float(v) for v in self.learning_rates}))
        if any(not (0 < v <= MAX_LEARNING_RATE and math.isfinite(v)) for v in rates):
            raise ValueError(f"taxonomy: learning_rates must be in (0, {MAX_LEARNING_RATE:g}], got {rates}")
        object.__setattr__(self, "learning_rates", rates)
        sizes = tuple(sorted({int(v) for v in self.batch_sizes}))
        if any(not 1 <= v <= MAX_BATCH_SIZE for v in sizes):
            raise ValueError(f"taxonomy: batch_sizes must be whole numbers in 1..{MAX_BATCH_SIZE}, got {sizes}")
        object.__setattr__(self, "batch_sizes", sizes)
        kinds = tuple(str(v).strip().lower() for v in self.augmentations)
        unknown = [k for k in kinds if k not in AUGMENTATIONS]
        if unknown:
            raise ValueError(
                f"taxonomy: unknown augmentation {', '.join(unknown)} (known: {', '.join(AUGMENTATIONS)})"
            )
        object.__setattr__(self, "augmentations", tuple(dict.fromkeys(kinds)))
        levels = tuple(sorted({float(v) for v in self.augmentation_levels}))
        if any(not 0 < v < 1 for v in levels) or (not levels and self.strengths):
            raise ValueError(f"taxonomy: augmentation_levels must be numbers in (0, 1), got {levels}")
        object.__setattr__(self, "augmentation_levels", levels)

    @property
    def strengths(self) -> tuple[str, ...]:
        """The augmentations with a strength (the others, flips, are on or off)."""
        return tuple(k for k in self.augmentations if not k.endswith("_flip"))

    @classmethod
    def from_config(cls, config: TaxonomyConfig, **overrides: Any) -> Taxonomy:
        """The ``[TAXONOMY]`` section; keyword overrides (e.g. ``max_parameters``) win."""
        values: dict[str, Any] = {
            "min_neurons": config.min_neurons,
            "max_neurons": config.max_neurons,
            "min_layers": config.min_layers,
            "max_layers": config.max_layers,
            "layer_types": config.layer_types,
            "activations": config.activation,
            "optimizers": config.optimizer,
            "batch_norm": config.batch_norm,
            "heads": config.heads,
            "learning_rates": config.learning_rates,
            "batch_sizes": config.batch_sizes,
            "augmentations": config.augmentations,
            "augmentation_levels": config.augmentation_levels,
        }
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Taxonomy:
        """The taxonomy of :meth:`to_dict`; one saved before a gene existed keeps that gene out of
        the search, so a resumed run searches the space it started with."""
        values = dict(_BEFORE_GENES)
        values.update({k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        return cls(**values)


# What a taxonomy saved before the training genes existed searched.
_BEFORE_GENES: dict[str, Any] = {
    "batch_norm": False,
    "heads": ("flatten",),
    "learning_rates": (),
    "batch_sizes": (),
    "augmentations": (),
}
