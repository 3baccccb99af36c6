"""``dicebox demo``: the whole system end to end on embedded defaults, with the synthetic camera.

1. start a local sensory service on a free port (embedded batch orders, no broker);
2. a simulated operator records labelled frames of every face through the client the GUI uses;
3. evolve a small population of networks (``dicebox evolve`` in a child process);
4. record an "only keep misclassified" pass with the first champion, train the champion on all
   of it, serve it, and classify fresh synthetic frames through the classification route;
5. leave the data set, the population files, the champion bundle and a report in one folder.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dicebox.camera import DICE_FACES, Geometry, Roi, open_source, preprocess_roi
from dicebox.client.http import SensoryClient
from dicebox.client.local_service import LocalService
from dicebox.config import load_config
from dicebox.demo.operator import record_faces
from dicebox.nets.genome import (
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    Genome,
    MaxPool2DLayer,
    Population,
    ScoredGenome,
    default_genome,
    write_population,
)
from dicebox.plumbing.child_process import ChildProcess
from dicebox.session.recorder import KeepMode

# A CNN known to read dice faces well; it seeds the first generation beside the default one, so
# even a small, short evolution starts from a sound network.
DICE_CNN = Genome(
    (
        Conv2DLayer(32, (3, 3)),
        MaxPool2DLayer((2, 2)),
        Conv2DLayer(64, (3, 3)),
        MaxPool2DLayer((2, 2)),
        Conv2DLayer(64, (3, 3)),
        MaxPool2DLayer((2, 2)),
        DenseLayer(128),
        DropoutLayer(0.3),
    )
)


@dataclass(frozen=True)
class DemoOptions:
    out: Path
    per_face: int = 600
    scenes: int = 100
    misclassified_per_face: int = 40
    generations: int = 3
    population: int = 4
    epochs: int = 2
    final_epochs: int = 25
    max_parameters: int = 600_000
    test_frames: int = 600
    seed: int = 0
    processes: int = 1


@dataclass
class DemoResult:
    out: Path
    accuracy: float = 0.0
    per_class: dict[str, float] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    frames_per_second: float = 0.0
    recorded: int = 0
    misclassified_kept: int = 0
    generations: list[dict] = field(default_factory=list)
    champion_genome: str = ""
    champion_validation_accuracy: float | None = None
    # What the evolution added: the seeded dice CNN, trained the same way, on the same fresh frames.
    seeded_accuracy: float | None = None
    champion_is_seeded: bool = False
    seconds: float = 0.0
    run_dir: str = ""
    bundle: str = ""


Say = Callable[[str], None]


class DemoStopped(Exception):
    """The demo was interrupted (Ctrl-C or the window closed)."""


class Demo:
    """One demo run; ``run()`` blocks, ``stop()`` (any thread) ends it cleanly."""

    def __init__(self, options: DemoOptions, *, say: Say = print, terminal_progress: bool = True,
                 on_service: Callable[[str, str], None] | None = None,
                 on_event: Callable[[dict], None] | None = None, keep_service: bool = False,
                 on_output: Say | None = None) -> None:
        self.options = options
        self.say = say
        # The child processes' own lines (their tables and logs): to ``say`` unless told elsewhere.
        self.on_output = on_output
        self.terminal_progress = terminal_progress
        self.on_service = on_service
        self.on_event = on_event
        self.keep_service = keep_service
        self.cancel = threading.Event()
        self.service: LocalService | None = None
        self.children: list[ChildProcess] = []
        self.data_dir = options.out / "data"
        self.config = load_config(data_dir=self.data_dir)
        self.geometry = Geometry(self.config.dataset.image_width, self.config.dataset.image_height,
                                 self.config.dataset.channels)

    def stop(self) -> None:
        """Stop the demo (from any thread), its child processes and its service."""
        self.cancel.set()
        for child in list(self.children):
            child.stop(timeout=30)
        if self.service is not None:
            self.service.stop()

    # The steps --------------------------------------------------------------------------------
    def run(self) -> DemoResult:
        started = time.monotonic()
        o = self.options
        o.out.mkdir(parents=True, exist_ok=True)
        result = DemoResult(out=o.out)
        try:
            client = self._start_service()
            self._check()
            self.say(f"[2/5] Recording {o.per_face} frames of each face with the synthetic dice camera, "
                     f"in {o.scenes} scenes (lighting, background, die)")
            report = self._record(client, KeepMode.ALL, o.per_face, seeds=self.scenes(0))
            result.recorded = report.total_kept
            self.say(f"      recorded {report.total_kept} frames in {report.seconds:.1f} s")
            self._check()
            self.say(f"[3/5] Evolving {o.population} networks for {o.generations} generations "
                     f"({o.epochs} epochs each)")
            events = self._evolve()
            finished = next((e for e in reversed(events) if e["event"] == "RunFinished"), None)
            if finished is None or finished["status"] != "finished" or not finished.get("champion_genome"):
                raise RuntimeError("the evolution did not finish" + (f": {finished['message']}" if finished else ""))
            result.generations = [e for e in events if e["event"] == "GenerationSummary"]
            result.run_dir = next(e["run_dir"] for e in events if e["event"] == "RunStarted")
            champion = Genome.from_dict(finished["champion_genome"])
            result.champion_validation_accuracy = finished["champion_accuracy"]
            self._check()
            if o.misclassified_per_face and finished.get("champion_bundle"):
                self.say("[4/5] Recording only the frames the champion gets wrong ('only keep misclassified')")
                # The service judges the frames with the first champion: the demo process itself
                # never loads TensorFlow (and never runs it beside a window's own model).
                first = self.config.weights_dir / "first-champion"
                shutil.copytree(finished["champion_bundle"], first, dirs_exist_ok=True)
                client.load_model(first.name)
                report = self._record(client, KeepMode.MISCLASSIFIED, o.misclassified_per_face,
                                      seeds=self.scenes(1), classifier=client,
                                      max_offers=o.misclassified_per_face * 10)
                result.misclassified_kept = report.total_kept
                self.say(f"      kept {report.total_kept} misclassified frames of "
                         f"{sum(report.offered.values())} looked at")
            self._check()
            self.say(f"      training the champion on all {result.recorded + result.misclassified_kept} frames "
                     f"({o.final_epochs} epochs at most)")
            bundle = self._train_final(champion)
            result.bundle = str(bundle)
            result.champion_genome = json.dumps(champion.to_dict())
            client.load_model(bundle.name)
            self._check()
            self.say(f"[5/5] Classifying {o.test_frames} fresh frames live through /api/v1/classify")
            self._evaluate(client, result)
            result.champion_is_seeded = champion.fingerprint() == DICE_CNN.fingerprint()
            if result.champion_is_seeded:
                result.seeded_accuracy = result.accuracy
            else:
                self._check()
                self.say("      the seeded dice CNN, trained the same way, on the same fresh frames "
                         "(what the evolution added)")
                seeded = self._train_final(DICE_CNN, "seeded")
                client.load_model(seeded.name)
                confusion, _ = self._classify_fresh(client)
                result.seeded_accuracy = float(np.trace(confusion) / confusion.sum())
                client.load_model(bundle.name)  # the champion stays the service's model
        except KeyboardInterrupt:
            raise DemoStopped("interrupted") from None
        finally:
            self._shutdown()
        result.seconds = time.monotonic() - started
        return result

    def _check(self) -> None:
        if self.cancel.is_set():
            raise DemoStopped("stopped")

    def _start_service(self) -> SensoryClient:
        self.say(f"[1/5] Starting a local sensory service (data in {self.data_dir})")
        self.service = LocalService(self.data_dir)
        url = self.service.start()
        client = SensoryClient(url, self.config.server.api_access_key, timeout=30, retries=3)
        self.say(f"      listening on {url} (embedded batch orders, no broker)")
        if self.on_service is not None:
            self.on_service(url, self.config.server.api_access_key)
        return client

    def scenes(self, part: int) -> list[int]:
        """Camera seeds (scenes) of one part of the demo: recording, second pass, test; never shared."""
        return [self.options.seed * 100_000 + part * 10_000 + i for i in range(self.options.scenes)]

    def _record(self, client: SensoryClient, mode: KeepMode, per_face: int, *, seeds: list[int],
                classifier=None, max_offers: int | None = None):
        from tqdm import tqdm

        # A turntable at 60 rpm: consecutive frames of a scene show the die turned well apart.
        sources = [open_source(f"synthetic:dice?seed={seed}&uncapped=1&hold=1&rpm=60") for seed in seeds]
        bar = tqdm(total=per_face * len(DICE_FACES), unit="frame", disable=not self.terminal_progress, leave=False)
        last = {"n": 0}

        def progress(_face: str, _kept: int, _per_face: int) -> None:
            last["n"] += 1
            bar.update(1)

        try:
            return record_faces(
                sources, client, self.config.dataset_id, self.geometry, self.options.out / "spool",
                faces=DICE_FACES, per_face=per_face, mode=mode, classifier=classifier,
                max_offers_per_face=max_offers, progress=progress, cancel=self.cancel,
            )
        finally:
            bar.close()
            for source in sources:
                source.close()

    def _child(self, args: list[str]) -> ChildProcess:
        child = ChildProcess(args, on_event=self.on_event, stderr_to_terminal=self.terminal_progress,
                             on_line=None if self.terminal_progress else (self.on_output or self.say))
        self.children.append(child)
        child.start()
        code = child.wait()
        self.children.remove(child)
        if self.cancel.is_set():
            raise DemoStopped("stopped")
        if code != 0:
            raise RuntimeError(f"'dicebox {args[0]}' failed with exit status {code}")
        return child

    def _evolve(self) -> list[dict]:
        o = self.options
        seed_file = self.options.out / "seed-population.json"
        write_population(seed_file, Population((ScoredGenome(DICE_CNN, None), ScoredGenome(default_genome(), None))))
        args = ["evolve", "--data-dir", str(self.data_dir), "--generations", str(o.generations),
                "--population", str(o.population), "--epochs", str(o.epochs), "--seed", str(o.seed),
                "--population-file", str(seed_file), "--processes", str(o.processes), "--json-events",
                "--max-parameters", str(o.max_parameters),
                # The demo trains the champion on every frame itself (step 4), after a second recording.
                "--final-epochs", "0", "--test-share", "0"]
        if not self.terminal_progress:
            args.append("--quiet")
        return self._child(args).events

    def _train_final(self, champion: Genome, name: str = "champion") -> Path:
        o = self.options
        genome_file = o.out / f"{name}-genome.json"
        genome_file.write_text(champion.to_json(), encoding="utf-8")
        bundle = self.config.weights_dir / name
        args = ["train", "--data-dir", str(self.data_dir), "--genome", str(genome_file), "--out", str(bundle),
                "--epochs", str(o.final_epochs), "--seed", str(o.seed), "--patience", "5"]
        if not self.terminal_progress:
            args.append("--quiet")
        self._child(args)
        return bundle

    def _evaluate(self, client: SensoryClient, result: DemoResult) -> None:
        confusion, seconds = self._classify_fresh(client)
        faces = list(DICE_FACES)
        total = int(confusion.sum())
        result.accuracy = float(np.trace(confusion) / total)
        result.per_class = {face: float(confusion[i, i] / confusion[i].sum()) for i, face in enumerate(faces)}
        result.confusion = confusion.tolist()
        result.frames_per_second = total / seconds

    def _classify_fresh(self, client: SensoryClient) -> tuple[np.ndarray, float]:
        """The confusion matrix of the service's model on the test frames (the same every call), and seconds."""
        o = self.options
        sources = [open_source(f"synthetic:dice?seed={seed}&uncapped=1&hold=1&rpm=60")
                   for seed in self.scenes(2)[: max(1, min(o.scenes, o.test_frames // 12))]]
        faces = list(DICE_FACES)
        confusion = np.zeros((len(faces), len(faces)), np.int64)
        per_face = max(1, o.test_frames // len(faces))
        started = time.perf_counter()
        try:
            for face in faces:
                for source in sources:
                    source.set_face(face)
                for n in range(per_face):
                    self._check()
                    frame = sources[n % len(sources)].read()
                    crop = preprocess_roi(frame.image, Roi.centered(frame.size, self.geometry, 0.5), self.geometry)
                    predicted = client.classify(crop).label
                    confusion[faces.index(face), faces.index(predicted) if predicted in faces else 0] += 1
        finally:
            for source in sources:
                source.close()
        return confusion, time.perf_counter() - started

    def _shutdown(self) -> None:
        for child in list(self.children):
            child.stop(timeout=30)
        if self.service is not None and not (self.keep_service and not self.cancel.is_set()):
            self.service.stop()
