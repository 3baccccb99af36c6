"""``dicebox evolve`` as users and the GUI run it: SIGKILL then --resume, a real tiny run, JSON lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dicebox.cli import main
from dicebox.nets.genome import Genome, Population, ScoredGenome, read_population, write_population

REPO = Path(__file__).resolve().parents[2]
TINY_TAXONOMY = """[TAXONOMY]
min_neurons = 4
max_neurons = 24
min_layers = 1
max_layers = 3
layer_types = dense, dropout, conv2d
"""


@pytest.fixture
def npz_file(tmp_path, tiny_data):
    path = tmp_path / "tiny.npz"
    np.savez(path, images=tiny_data.images, labels=tiny_data.labels, categories=np.array(tiny_data.categories),
             version=np.array(tiny_data.version))
    return path


def evolve_process(args: list[str], home: Path, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "DICEBOX_HOME": str(home), "DICEBOX_FAKE_FITNESS": "1", **env}
    return subprocess.Popen([sys.executable, "-m", "dicebox", "evolve", *args, "--events", "jsonl", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ, cwd=REPO)


def populations(run_dir: Path) -> list[str]:
    folders = sorted((p for p in run_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return [(p / "population.json").read_text() for p in folders]


def test_sigkill_mid_generation_then_resume_gives_the_uninterrupted_result(tmp_path, npz_file):
    home = tmp_path / "home"
    common = ["--npz", str(npz_file), "--generations", "4", "--population", "5", "--seed", "3"]
    whole = evolve_process([*common, "--run-id", "whole"], home)
    out, err = whole.communicate(timeout=60)
    assert whole.returncode == 0, err

    cut = evolve_process([*common, "--run-id", "cut"], home, DICEBOX_FAKE_FITNESS_SECONDS="0.15")
    lines = []
    for line in cut.stdout:
        event = json.loads(line)
        lines.append(event)
        if event["event"] == "IndividualTrained" and event["generation"] == 2 and event["index"] == 3:
            cut.send_signal(signal.SIGKILL)  # in the middle of generation 2, mid-individual
            break
    cut.wait(timeout=30)
    cut.stdout.close()
    cut.stderr.close()
    assert cut.returncode == -signal.SIGKILL
    assert lines[0]["event"] == "RunStarted" and lines[0]["run_id"] == "cut"
    assert lines[0]["run_dir"] == str(home / "population" / "cut")
    assert lines[0]["champion_bundle"] == str(home / "population" / "cut" / "champion")

    resumed = evolve_process(["--resume", "cut", "--npz", str(npz_file)], home)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "RunStarted" and events[0]["resumed"] and events[0]["generation"] == 2
    assert events[-1]["event"] == "RunFinished" and events[-1]["status"] == "finished"
    done_before = {(e["generation"], e["index"]) for e in lines if e["event"] == "IndividualTrained"}
    done_after = [(e["generation"], e["index"]) for e in events if e["event"] == "IndividualTrained"]
    assert not done_before & set(done_after)  # what was recorded is not trained again
    assert done_after[0] in ((2, 4), (2, 5))  # (2, 4) was in training when killed, unless it had just finished
    assert populations(home / "population" / "cut") == populations(home / "population" / "whole")
    state = json.loads((home / "population" / "cut" / "state.json").read_text())
    reference = json.loads((home / "population" / "whole" / "state.json").read_text())
    assert state["champion"] == reference["champion"] and state["rng"] == reference["rng"]


def test_sigterm_saves_and_exits_resumably(tmp_path, npz_file):
    home = tmp_path / "home"
    proc = evolve_process(["--npz", str(npz_file), "--generations", "3", "--population", "4", "--seed", "1",
                           "--run-id", "r"], home, DICEBOX_FAKE_FITNESS_SECONDS="0.2")
    for line in proc.stdout:
        if json.loads(line)["event"] == "IndividualTrained":
            proc.send_signal(signal.SIGTERM)
            break
    rest = [json.loads(line) for line in proc.stdout]
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == 130
    assert rest[-1]["event"] == "RunFinished" and rest[-1]["status"] == "cancelled"
    state = json.loads((home / "population" / "r" / "state.json").read_text())
    assert not state["finished"] and state["results"]


def test_a_real_tiny_evolution_writes_populations_and_a_champion_that_loads(tmp_path, capsys):
    from synthetic_images import shapes

    from dicebox.nets.bundle import load_bundle

    data = shapes(per_class=30, width=20, height=16, seed=2)  # 120 images
    npz = tmp_path / "shapes.npz"
    np.savez(npz, images=data.images, labels=data.labels, categories=np.array(data.categories),
             version=np.array(data.version))
    config = tmp_path / "dicebox.config"
    config.write_text(TINY_TAXONOMY)
    argv = ["evolve", "--config", str(config), "--data-dir", str(tmp_path / "home"), "--npz", str(npz),
            "--generations", "2", "--population", "3", "--epochs", "1", "--seed", "4", "--run-id", "real",
            "--json-events", "--quiet"]
    assert main(argv) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    run_dir = tmp_path / "home" / "population" / "real"
    assert events[0]["event"] == "RunStarted" and events[0]["champion_bundle"] == str(run_dir / "champion")
    for generation in (1, 2):
        population = read_population(run_dir / str(generation) / "population.json")
        assert len(population.members) == 3
        assert all(m.accuracy is not None for m in population.members)
    finished = events[-1]
    assert finished["status"] == "finished"
    bundle = load_bundle(run_dir / "champion")
    assert bundle.categories == data.categories and bundle.dataset_version == data.version
    assert bundle.genome == Genome.from_dict(finished["champion_genome"])
    # The bundle is the champion retrained at full fidelity, scored on the test split (24 of 120 images).
    retrained = [e for e in events if e["event"] == "ChampionRetrained"]
    assert len(retrained) == 1 and retrained[0]["bundle"] == str(run_dir / "champion")
    assert bundle.metrics.evaluated_on == "test" and bundle.metrics.samples == retrained[0]["test_samples"] == 24
    assert bundle.metrics.accuracy == finished["champion_test_accuracy"] == retrained[0]["accuracy"]
    assert retrained[0]["epochs_run"] > 1  # not the search's single epoch
    bundle.load_model()  # the exported network really loads
    results = json.loads((run_dir / "1" / "results.json").read_text())
    assert all(r["history"]["val_accuracy"] for r in results if not r["cached"])  # the curves are kept


def test_a_time_budget_ends_the_run_with_the_final_retraining_inside_it(tmp_path, npz_file):
    child = evolve_process(["--data-dir", str(tmp_path / "home"), "--npz", str(npz_file), "--population", "4",
                            "--time-budget", "3", "--seed", "2", "--run-id", "timed"], tmp_path / "home",
                           DICEBOX_FAKE_FITNESS_SECONDS="0.25")
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "RunStarted" and events[0]["time_budget"] == 3.0
    trained = [e for e in events if e["event"] == "IndividualTrained"]
    assert trained and all(e["budget_seconds"] == 3.0 and e["budget_used"] <= 3.0 for e in trained)
    assert [e["event"] for e in events[-2:]] == ["ChampionRetrained", "RunFinished"]
    assert events[-1]["status"] == "finished" and events[-1]["seconds"] <= 3.0 + 0.5


def test_a_run_can_start_from_a_saved_population(tmp_path, npz_file, capsys, monkeypatch):
    monkeypatch.setenv("DICEBOX_FAKE_FITNESS", "1")
    seeds = [Genome.from_dict({"optimizer": "nadam", "layers": [{"type": "normal", "size": n, "activation": "elu"}]})
             for n in (11, 12, 13)]
    saved = tmp_path / "population.json"
    write_population(saved, Population(tuple(ScoredGenome(g, 0.5) for g in seeds)))
    home = tmp_path / "home"
    argv = ["evolve", "--data-dir", str(home), "--npz", str(npz_file), "--generations", "1", "--population",
            str(saved), "--seed", "1", "--run-id", "seeded", "--quiet"]
    assert main(argv) == 0
    first = read_population(home / "population" / "seeded" / "1" / "population.json")
    assert [m.genome.layers for m in first.members] == [g.layers for g in seeds]  # size 3 from the file
    capsys.readouterr()


def test_mistakes_are_one_line_usage_errors(tmp_path, npz_file, capsys, monkeypatch):
    monkeypatch.setenv("DICEBOX_FAKE_FITNESS", "1")
    home = ["--data-dir", str(tmp_path / "home"), "--quiet"]
    assert main(["evolve", *home, "--resume", "nope"]) == 2
    assert "no run" in capsys.readouterr().err
    assert main(["evolve", *home, "--npz", str(npz_file), "--generations", "1", "--population", "2",
                 "--run-id", "x"]) == 0
    capsys.readouterr()
    assert main(["evolve", *home, "--npz", str(npz_file), "--run-id", "x"]) == 2
    assert "--resume x" in capsys.readouterr().err
    assert main(["evolve", *home, "--npz", str(npz_file), "--broker", "amqp://localhost/"]) == 2
    assert "--npz cannot be used" in capsys.readouterr().err
    assert main(["evolve", *home, "--npz", str(npz_file), "--processes", "0"]) == 2
    monkeypatch.delenv("DICEBOX_FAKE_FITNESS")
    assert main(["evolve", *home, "--resume", "x", "--npz", str(npz_file)]) == 2
    assert "DICEBOX_FAKE_FITNESS=1" in capsys.readouterr().err
