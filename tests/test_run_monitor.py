"""The Qt-free run monitor: which runs can be resumed, the champion of a real (fake-fitness) run and
where it came from, and what the operator is told when a training or an evolution ends."""

from __future__ import annotations

import json

import pytest
from helpers import fake_evolution_events

from dicebox.session.runs import (
    ChampionFound,
    ChildEnded,
    Individual,
    ModelReady,
    RunFollowed,
    RunMonitor,
    RunsListed,
    describe_champion,
)


def _state(root, run_id: str, **state):
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"run_id": run_id, **state}))
    return folder


def test_only_unfinished_readable_runs_are_offered_newest_first(tmp_path):
    root = tmp_path / "population"
    _state(root, "20260101-000000-aaaa", finished=False, generation=2)
    _state(root, "20260102-000000-bbbb", finished=True, generation=5)
    later = _state(root, "20260103-000000-cccc", finished=False, generation=1)
    (root / "20260104-000000-dddd").mkdir()
    (root / "20260104-000000-dddd" / "state.json").write_text("{half a file")
    (root / "not-a-run").mkdir()
    monitor = RunMonitor(root)
    told = []
    monitor.events.connect(told.append)
    runs = monitor.scan()
    assert [r.run_id for r in runs] == ["20260103-000000-cccc", "20260101-000000-aaaa"]
    assert runs[1].describe() == "20260101-000000-aaaa · generation 2"
    assert told == [RunsListed(runs)]
    assert monitor.is_resumable("20260103-000000-cccc")
    (later / "state.json").write_text(json.dumps({"finished": True}))  # finished by another process
    assert not monitor.is_resumable("20260103-000000-cccc")
    assert not monitor.is_resumable("20260102-000000-bbbb") and not monitor.is_resumable("../etc")
    assert [r.run_id for r in monitor.scan()] == ["20260101-000000-aaaa"]


@pytest.fixture
def evolved(tmp_path):
    """A real ``dicebox evolve --json-events`` run (fake fitness: no TensorFlow), its events and state."""
    events = fake_evolution_events(tmp_path)
    population = tmp_path / "home" / "population"
    return population, events, json.loads((population / "r" / "state.json").read_text())


def test_the_champion_of_a_real_run_says_where_it_came_from(evolved):
    population, events, state = evolved
    monitor = RunMonitor(population)
    told = []
    monitor.events.connect(told.append)
    for event in events:
        monitor.feed(event)
    assert isinstance(told[0], RunFollowed) and told[0].run_id == "r" and told[0].generations == 4
    crowned = [e for e in events if e["event"] == "ChampionChanged"]
    assert len([e for e in told if isinstance(e, ChampionFound)]) >= len(crowned)
    champion, saved = monitor.champion, state["champion"]
    assert champion is not None and champion.accuracy == saved["accuracy"]
    assert (champion.generation, champion.index) == (saved["generation"], saved["index"])
    assert champion.lineage.origin == saved["origin"] and champion.lineage.born == saved["born"]
    # Each parent is named as the network the run trained, with its accuracy, before the champion was born.
    trained = {(e["generation"], e["index"]): e for e in events if e["event"] == "IndividualTrained"}
    assert len(champion.lineage.parents) == len(saved["parents"])
    for parent, fingerprint in zip(champion.lineage.parents, saved["parents"], strict=True):
        assert isinstance(parent, Individual), parent
        seen = trained[(parent.generation, parent.index)]
        assert seen["fingerprint"] == fingerprint and seen["accuracy"] == parent.accuracy
        assert parent.generation <= champion.lineage.born
        assert (parent.generation, parent.index) != (champion.generation, champion.index)
    lines = describe_champion(champion)
    assert lines[0].startswith(f"Champion: {champion.accuracy * 100:.1f} % validation accuracy")
    given = saved["origin"] in ("default", "seeded")
    assert lines[1].endswith("given, not found by the search" if given else "found by the search"), lines
    if champion.lineage.parents:
        assert champion.lineage.parents[0].describe() in lines[1]
    # The run retrains its champion at the end: the box says on what it was measured.
    assert champion.test_accuracy is not None and "Retrained on all search data" in lines[-1]
    assert monitor.last_status == "finished"
    assert monitor.ended("evolution", 0).message == "Run r finished"
    assert monitor.runs == (), "a finished run is not offered for resuming"


def test_every_origin_reads_as_a_sentence():
    monitor = RunMonitor("/nowhere")
    monitor.feed({"event": "RunStarted", "run_id": "x", "generations": 3, "population": 2, "epochs": 1})
    for generation, index, fingerprint, accuracy in ((1, 1, "aaaa1111", 0.6), (1, 2, "bbbb2222", 0.7),
                                                     (2, 1, "aaaa1111", 0.65)):
        monitor.feed({"event": "IndividualTrained", "generation": generation, "index": index,
                      "fingerprint": fingerprint, "accuracy": accuracy, "genome": "adam: dense(8,relu)"})

    def crown(origin: str, parents: list[str], born: int) -> str:
        monitor.feed({"event": "ChampionChanged", "accuracy": 0.9, "generation": born, "index": 9,
                      "fingerprint": "cccc3333", "bundle": None, "origin": origin, "parents": parents, "born": born})
        return monitor.champion.lineage.describe()

    assert crown("default", [], 1) == "the default network, seeded into generation 1 — given, not found by the search"
    assert crown("seeded", [], 1).startswith("a network the run was seeded with — given")
    assert crown("variation", ["aaaa1111"], 1) == (
        "a variation of generation 1 #1 (60.0 %) — found by the search"
    )
    assert crown("child", ["bbbb2222", "aaaa1111"], 2) == (
        "a crossover of generation 1 #2 (70.0 %) and generation 1 #1 (60.0 %) — found by the search"
    )
    # An elite has its parent's fingerprint: the parent is its training in an earlier generation.
    assert crown("elite", ["aaaa1111"], 3).startswith("kept unchanged from generation 2 #1 (65.0 %)")
    assert crown("mutant", ["ffff9999"], 2).startswith("a mutant of network ffff9999 — found")
    assert crown("", [], 1) == "", "an older run's champion has no origin to tell"


def test_how_a_child_ended_is_told_and_a_trained_network_is_offered(tmp_path):
    root = tmp_path / "population"
    monitor = RunMonitor(root)
    told = []
    monitor.events.connect(told.append)
    monitor.starting("training")
    monitor.feed({"event": "TrainFinished", "bundle": str(tmp_path / "trained-1"), "accuracy": 0.875,
                  "evaluated_on": "validation", "best_epoch": 4, "epochs_run": 6})
    ended = monitor.ended("training", 0)
    assert ended.message == "Training finished: trained-1, 87.5 % validation accuracy (best epoch 4 of 6)"
    assert ModelReady(tmp_path / "trained-1", "trained network") in told and told[-1] == ended
    assert monitor.model_path == tmp_path / "trained-1"

    assert "stopped; resume it" in monitor.ended("evolution", 130).message
    assert monitor.ended("evolution", -11).message == (
        "Evolution crashed (SIGSEGV); its output is in the service log tab."
    ), "nothing to resume: Resume is not offered"
    _state(root, "20260101-000000-aaaa", finished=False)
    assert monitor.ended("evolution", -11).message.endswith("Resume it from the list.")
    assert isinstance(told[-1], ChildEnded) and told[-1].code == -11
    assert "status 3" in monitor.ended("training", 3).message
