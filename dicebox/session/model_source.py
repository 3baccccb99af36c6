"""Which model the live view classifies with: a bundle, the service's model, or the evolution's champion.

:class:`ModelSource` is Qt-free: it keeps the choice and the list of models on offer (the bundles in
the weights folder, the champions in the population folder and the recently used paths, newest
first) and tells its subscribers through plain callbacks with dataclass events. Following the
champion means the champion written last in the population folder, so a run started after the
choice is followed too. :meth:`ModelSource.scan` and :meth:`ModelSource.poll` read files: a window
calls them off its UI thread.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dicebox.evolution.run_folder import CHAMPION_DIR
from dicebox.nets.bundle import MANIFEST_FILE, PREPROCESSING_FILE, BundleError, load_bundle

MAX_RECENT = 10


class ModelSourceError(Exception):
    """A model choice that cannot be carried out; the message says why, for the operator."""


@dataclass(frozen=True)
class ModelEntry:
    """One model on offer: a bundle folder, or the champion of an evolution run."""

    kind: str  # "bundle" or "champion"
    path: Path
    created: str  # ISO time from bundle.json ("" when it has none)
    accuracy: float | None
    dataset: str
    model_id: str

    def describe(self) -> str:
        """One line for a list: what it is, when, its accuracy and its data set."""
        what = f"champion of run {self.path.parent.name}" if self.kind == "champion" else f"bundle {self.path.name}"
        when = _short_time(self.created)
        accuracy = "accuracy unknown" if self.accuracy is None else f"{self.accuracy * 100:.1f} % accuracy"
        return " · ".join(part for part in (what, when, accuracy, self.dataset) if part)


@dataclass(frozen=True)
class ModelChosen:
    """The live model changes: ``kind`` is "none", "bundle", "champion" or "service"."""

    kind: str
    path: Path | None = None


@dataclass(frozen=True)
class ModelsListed:
    """The models on offer, newest first."""

    entries: tuple[ModelEntry, ...]


@dataclass(frozen=True)
class RecentChanged:
    """The recently used bundle paths changed (to be remembered across restarts)."""

    paths: tuple[str, ...]


Event = ModelChosen | ModelsListed | RecentChanged


def read_entry(path: Path, kind: str = "bundle") -> ModelEntry | None:
    """The entry of the bundle at ``path``, or None when it is not a readable bundle."""
    try:
        bundle = load_bundle(path)
    except (BundleError, OSError, ValueError):
        return None
    return ModelEntry(
        kind=kind,
        path=Path(path).absolute(),
        created=bundle.created,
        accuracy=None if bundle.metrics is None else bundle.metrics.accuracy,
        dataset=bundle.dataset_id,
        model_id=bundle.model_id,
    )


def scan_models(weights_dir: Path, population_dir: Path, recent: Iterable[str | Path] = ()) -> list[ModelEntry]:
    """Every readable bundle in ``weights_dir``, every run's champion and the ``recent`` paths, newest first."""
    candidates: list[tuple[Path, str]] = [(Path(p), "bundle") for p in recent]
    candidates += [(p, "bundle") for p in _subfolders(weights_dir)]
    candidates += [(run / CHAMPION_DIR, "champion") for run in _subfolders(population_dir)]
    seen: set[Path] = set()
    entries: list[ModelEntry] = []
    runs = Path(population_dir).absolute()
    for path, kind in candidates:
        if kind == "bundle" and path.name == CHAMPION_DIR and path.absolute().parent.parent == runs:
            kind = "champion"  # a recent path that is a run's champion says so (not a bundle named "champion")
        key = path.absolute()
        if key in seen or not (path / MANIFEST_FILE).is_file():
            continue
        seen.add(key)
        entry = read_entry(path, kind)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda e: (e.created, str(e.path)), reverse=True)
    return entries


def newest_champion(population_dir: Path) -> Path | None:
    """The champion written last in any run of ``population_dir`` (a run started later wins once it has one)."""
    best: tuple[float, Path] | None = None
    for run in _subfolders(population_dir):
        manifest = run / CHAMPION_DIR / MANIFEST_FILE
        try:
            written = manifest.stat().st_mtime
        except OSError:
            continue
        if best is None or written > best[0]:
            best = (written, run / CHAMPION_DIR)
    return None if best is None else best[1]


def install_bundle(bundle: Path, weights_dir: Path) -> str:
    """The bundle's name inside ``weights_dir`` (for ``POST /api/v1/model``), copying it there if it is elsewhere.

    A champion is copied under ``champion-<run>-<model id>`` so the next champion does not replace it.
    """
    bundle, root = Path(bundle).absolute(), Path(weights_dir).absolute()
    if root in bundle.parents:
        return bundle.relative_to(root).as_posix()
    entry = read_entry(bundle)
    if entry is None:
        raise ModelSourceError(f"{bundle} is not a readable model bundle")
    name = bundle.name if bundle.name != CHAMPION_DIR else f"champion-{bundle.parent.name}"
    name = f"{name}-{entry.model_id[:8]}"
    target = root / name
    if not (target / MANIFEST_FILE).is_file():
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".{name}.copying-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(bundle, staging)
        os.replace(staging, target)
    return name


class ModelSource:
    """The live model's source and the models on offer, told to subscribers as events."""

    def __init__(self, weights_dir: Path, population_dir: Path, recent: Iterable[str] = ()) -> None:
        self.weights_dir = Path(weights_dir)
        self.population_dir = Path(population_dir)
        self.kind = "none"
        self.path: Path | None = None  # the bundle in use (for "champion": the champion followed now)
        self.entries: tuple[ModelEntry, ...] = ()
        self._recent = [str(p) for p in recent if str(p)][:MAX_RECENT]
        self._followed: tuple[Path, str] | None = None  # champion path and model id last told
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()

    @property
    def recent(self) -> tuple[str, ...]:
        return tuple(self._recent)

    def restore_recent(self, paths: Iterable[str]) -> None:
        """Take the recent paths remembered from an earlier session (nothing is told)."""
        with self._lock:
            self._recent = [str(p) for p in paths if str(p)][:MAX_RECENT]

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on every change; returns the function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            callback(event)

    # The choice ---------------------------------------------------------------------------------
    def use_bundle(self, path: str | Path) -> None:
        """Classify with the bundle at ``path`` (remembered among the recent ones)."""
        path = Path(path).absolute()
        # An export kit (dicebox export-model) classifies through onnxruntime or LiteRT: no TensorFlow needed.
        if not (path / MANIFEST_FILE).is_file() and not (path / PREPROCESSING_FILE).is_file():
            raise ModelSourceError(
                f"no model bundle or export kit in {path} (it has no {MANIFEST_FILE} or {PREPROCESSING_FILE})"
            )
        with self._lock:
            self.kind, self.path, self._followed = "bundle", path, None
            recent = [str(path), *(p for p in self._recent if p != str(path))][:MAX_RECENT]
            changed = recent != self._recent
            self._recent = recent
        self._emit(ModelChosen("bundle", path))
        if changed:
            self._emit(RecentChanged(tuple(recent)))

    def use_service(self) -> None:
        with self._lock:
            self.kind, self.path, self._followed = "service", None, None
        self._emit(ModelChosen("service"))

    def follow_champion(self) -> None:
        """Classify with the newest champion, now and whenever a newer one is written (see :meth:`poll`).

        Tells ``ModelChosen("champion", None)`` at once (following, none loaded yet: a view polls
        from now on), then the champion found, if there is one.
        """
        with self._lock:
            self.kind, self.path, self._followed = "champion", None, None
        self._emit(ModelChosen("champion"))
        self.poll()

    def clear(self) -> None:
        with self._lock:
            self.kind, self.path, self._followed = "none", None, None
        self._emit(ModelChosen("none"))

    def poll(self) -> None:
        """When following, tell a champion newer than the one in use (another run's, or a better one)."""
        if self.kind != "champion":
            return
        path = newest_champion(self.population_dir)
        entry = None if path is None else read_entry(path, "champion")
        if entry is None:
            return  # none yet, or being replaced right now: look again next time
        with self._lock:
            if self.kind != "champion" or self._followed == (entry.path, entry.model_id):
                return
            self._followed = (entry.path, entry.model_id)
            self.path = entry.path
        self._emit(ModelChosen("champion", entry.path))

    # The list -----------------------------------------------------------------------------------
    def scan(self) -> tuple[ModelEntry, ...]:
        """Read the models on offer (file reads: not on a UI thread) and tell them."""
        entries = tuple(scan_models(self.weights_dir, self.population_dir, self.recent))
        self.entries = entries
        self._emit(ModelsListed(entries))
        return entries


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


def _short_time(created: str) -> str:
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return created
