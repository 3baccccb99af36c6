"""GET /api/v1/evolution/latest: the web client's view of the latest evolution run."""

from __future__ import annotations

import json
import os

import requests
from helpers import API_KEY

HEADERS = {"API-ACCESS-KEY": API_KEY}


def write_run(population_dir, run_id, *, generation, history, mtime, champion=0.9, text=None):
    folder = population_dir / run_id
    folder.mkdir(parents=True)
    state = {
        "run_id": run_id,
        "generation": generation,
        "finished": False,
        "settings": {"generations": 5},
        "champion": {"accuracy": champion, "genome": {}},
        "history": history,
    }
    path = folder / "state.json"
    path.write_text(text if text is not None else json.dumps(state), encoding="utf-8")
    os.utime(path, (mtime, mtime))


def generation(n, best, average, failed=0):
    return {"generation": n, "generations": 5, "best": best, "average": average, "failed": failed, "trained": 4}


def test_no_run_is_a_json_404(live_service):
    url, _app = live_service
    answer = requests.get(url + "/api/v1/evolution/latest", headers=HEADERS, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_the_latest_readable_run_with_best_and_average_per_generation(live_service, config):
    url, _app = live_service
    runs = config.population_dir
    write_run(runs, "20260101-000000-aaaa", generation=3, history=[generation(1, 0.5, 0.3)], mtime=1000)
    write_run(
        runs,
        "20260102-000000-bbbb",
        generation=2,
        history=[generation(1, 0.6, 0.4, failed=1), generation(2, 0.75, None)],
        mtime=2000,
        champion=0.75,
    )
    write_run(runs, "20260103-000000-cccc", generation=1, history=[], mtime=3000, text="{not json")
    answer = requests.get(url + "/api/v1/evolution/latest", headers=HEADERS, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {
        "run_id": "20260102-000000-bbbb",
        "generation": 2,
        "generations": 5,
        "finished": False,
        "best": 0.75,
        "history": [
            {"generation": 1, "best": 0.6, "average": 0.4, "failed": 1},
            {"generation": 2, "best": 0.75, "average": None, "failed": 0},
        ],
    }


def test_progress_needs_the_key(live_service, config):
    url, _app = live_service
    write_run(config.population_dir, "20260101-000000-aaaa", generation=1, history=[], mtime=1000)
    answer = requests.get(url + "/api/v1/evolution/latest", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
