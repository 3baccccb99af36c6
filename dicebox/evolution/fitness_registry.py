"""Fitness functions by name: an order names one, and the process that trains it looks it up here.

``register_fitness("train", train_fitness)`` is done on first use; the fake test fitness
registers itself as available only while its test hook (``DICEBOX_FAKE_FITNESS=1``) is on in
this process, and it is then the default (see :mod:`dicebox.evolution.fake_fitness`). Tests
register their own. A name that is not registered, or not available here, raises
:class:`FitnessUnavailable` with the reason: a worker then refuses the order (another may take it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicebox.evolution.training_orders import Evaluation, TrainSpec
    from dicebox.images import LabelledImages
    from dicebox.nets.genome import Genome

#: ``fitness(genome, data, spec, cancel) -> (evaluation, .keras model bytes or None)``
Fitness = Callable[["Genome", "LabelledImages", "TrainSpec", "threading.Event | None"],
                   tuple["Evaluation", "bytes | None"]]

DEFAULT_FITNESS = "train"


class FitnessUnavailable(LookupError):
    """No fitness of that name can run in this process."""


@dataclass(frozen=True)
class _Entry:
    fitness: Fitness
    available: Callable[[], bool] | None
    unavailable: str  # why it is not available, when it is not
    default: bool  # the default fitness of this process while available
    notice: str  # said once when a run uses it by default


_entries: dict[str, _Entry] = {}
_lock = threading.RLock()
_builtins_done = False


def register_fitness(
    name: str,
    fitness: Fitness,
    *,
    available: Callable[[], bool] | None = None,
    unavailable: str = "",
    default: bool = False,
    notice: str = "",
    replace: bool = True,
) -> None:
    """Make ``fitness`` the one orders naming ``name`` get (unless ``replace`` is False and one is).

    ``available`` is asked at every lookup (None: always); ``unavailable`` says why not. A
    ``default`` entry is this process's default fitness while it is available.
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"a fitness name is letters, digits, '-' and '_', got {name!r}")
    with _lock:
        if replace or name not in _entries:
            _entries[name] = _Entry(fitness, available, unavailable, default, notice)


def unregister_fitness(name: str) -> None:
    with _lock:
        _entries.pop(name, None)


def _ensure_builtins() -> None:
    """Register the built-in fitnesses on first use (not at import), keeping any registered before."""
    global _builtins_done
    with _lock:
        if _builtins_done:
            return
        from dicebox.evolution import fake_fitness, fitness

        fitness.register()
        fake_fitness.register()
        _builtins_done = True


def _available(entry: _Entry) -> bool:
    return entry.available is None or entry.available()


def get_fitness(name: str) -> Fitness:
    """The fitness registered as ``name``; raises FitnessUnavailable when there is none here."""
    _ensure_builtins()
    entry = _entries.get(name)
    if entry is None:
        raise FitnessUnavailable(f"no fitness {name!r} is registered in this process "
                                 f"(registered: {', '.join(sorted(_entries)) or 'none'})")
    if not _available(entry):
        raise FitnessUnavailable(entry.unavailable or f"the fitness {name!r} is not available in this process")
    return entry.fitness


def default_fitness() -> tuple[str, str]:
    """(name, notice) of the fitness a new run uses here: a default entry while it is available,
    else :data:`DEFAULT_FITNESS` (notice "")."""
    _ensure_builtins()
    for name, entry in list(_entries.items()):
        if entry.default and _available(entry):
            return name, entry.notice
    return DEFAULT_FITNESS, ""


def available_fitnesses() -> list[str]:
    """The names an order may use in this process."""
    _ensure_builtins()
    return sorted(name for name, entry in list(_entries.items()) if _available(entry))
