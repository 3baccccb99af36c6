"""The run store: a run's folder with ``state.json``, a ``population.json`` per generation, ``champion/``.

Layout under ``<population_dir>/<run id>/``: ``state.json`` (everything needed to resume, written
atomically after every individual), ``<generation>/population.json`` (the original format),
``<generation>/results.json`` (status, error, seconds and cache use of every individual) and
``champion/`` (the best network so far, a model bundle).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicebox.nets.genome import Genome, Population, write_population
from dicebox.plumbing.durable import write_text_atomic

if TYPE_CHECKING:
    from dicebox.evolution.dataset import DataSpec
    from dicebox.evolution.training_orders import Evaluation

#: ``exporter(model_bytes, bundle_path, genome, evaluation, data) -> bundle path``
Exporter = Callable[[bytes, Path, Genome, "Evaluation", "DataSpec"], Path]

STATE_FILE = "state.json"
CHAMPION_DIR = "champion"


class RunStateError(ValueError):
    """A run folder without a readable state (not a run, or damaged)."""


def new_run_id() -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-xxxx``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class RunFolder:
    """Where a search persists: the runner saves its state here after every trial and each
    finished generation's files; a new champion's model becomes the ``champion/`` bundle."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()

    @classmethod
    def locate(cls, population_dir: Path, run: str) -> RunFolder:
        """A run by id (under ``population_dir``) or by folder path."""
        candidate = Path(run).expanduser()
        if (candidate / STATE_FILE).is_file():
            return cls(candidate)
        if "/" in run or "\\" in run or run in ("", ".", ".."):
            raise RunStateError(f"no run state in {candidate}")
        return cls(Path(population_dir) / run)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    @property
    def champion_dir(self) -> Path:
        return self.path / CHAMPION_DIR

    def generation_dir(self, generation: int) -> Path:
        return self.path / str(generation)

    def population_file(self, generation: int) -> Path:
        return self.generation_dir(generation) / "population.json"

    def write_state(self, state: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.state_file, json.dumps(state, separators=(",", ":")) + "\n")

    def read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunStateError(f"no run at {self.path} ({STATE_FILE} is missing)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunStateError(f"{self.state_file} is unreadable: {exc}") from None
        if not isinstance(state, dict):
            raise RunStateError(f"{self.state_file} is not a run state")
        return state

    def write_generation(self, generation: int, population: Population, results: list[dict[str, Any]]) -> Path:
        """``population.json`` in the original format, and ``results.json`` beside it."""
        path = self.population_file(generation)
        write_population(path, population)
        write_text_atomic(path.with_name("results.json"), json.dumps(results, indent=2) + "\n")
        return path

    def export_champion(self, model: bytes, genome: Genome, evaluation: Evaluation, data: DataSpec,
                        exporter: Exporter | None = None) -> str:
        """Write the trained ``.keras`` file ``model`` as the ``champion/`` bundle; its path."""
        if exporter is None:
            from dicebox.evolution.champion import export_champion as exporter
        return str(exporter(model, self.champion_dir, genome, evaluation, data))


#: The run store's name in the Strategy / runner / run store split.
RunStore = RunFolder
