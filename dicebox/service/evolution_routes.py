"""Read-only progress of the latest evolution run the service can see (for the web client).

A run is a folder under the configured population folder with a ``state.json`` (see
:mod:`dicebox.evolution.run_folder`); the latest is the one whose state was written last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

from dicebox.service.context import context
from dicebox.service.errors import ApiError

evolution_routes = Blueprint("evolution", __name__, url_prefix="/api/v1")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def run_progress(state: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The summary the page shows: generation, best and average per generation."""
    history = [g for g in state.get("history") or [] if isinstance(g, dict)]
    settings = state.get("settings") if isinstance(state.get("settings"), dict) else {}
    generations = _count(history[-1].get("generations")) if history else _count(settings.get("generations"))
    champion = state.get("champion") if isinstance(state.get("champion"), dict) else {}
    return {
        "run_id": run_id,
        "generation": _count(state.get("generation")),
        "generations": generations,
        "finished": state.get("finished") is True,
        "best": _number(champion.get("accuracy")),
        "history": [
            {
                "generation": _count(g.get("generation")),
                "best": _number(g.get("best")),
                "average": _number(g.get("average")),
                "failed": _count(g.get("failed")),
            }
            for g in history
        ],
    }


def latest_run(population_dir: Path) -> tuple[str, dict[str, Any]] | None:
    """(run id, state) of the run whose state was written last; unreadable runs are passed over."""
    from dicebox.evolution.run_folder import RunFolder, RunStateError

    try:
        candidates = [(p.stat().st_mtime, p.parent.name, p.parent) for p in population_dir.glob("*/state.json")]
    except OSError:
        return None
    for _mtime, name, folder in sorted(candidates, reverse=True):
        try:
            return name, RunFolder(folder).read_state()
        except (RunStateError, OSError):
            continue
    return None


@evolution_routes.get("/evolution/latest")
def latest():
    found = latest_run(context().config.population_dir)
    if found is None:
        raise ApiError(404, "not_found", "no evolution run in the service's population folder")
    return jsonify(run_progress(found[1], found[0]))
