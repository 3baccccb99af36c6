"""The search space of network evolution: which layers, sizes, activations and optimizers exist.

Built from the ``[TAXONOMY]`` configuration section (the original's neurons and layer ranges,
layer types, activations, optimizers), plus ranges the original file has no key for (conv2d
filters, kernel sizes, strides, dropout rates, pooling windows, a parameter limit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from dicebox.genome import ACTIVATIONS, LAYER_TYPES, OPTIMIZERS, PADDINGS

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
    max_layers: int = 4
    layer_types: tuple[str, ...] = ("dropout", "dense", "conv2d")
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
        }
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Taxonomy:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
