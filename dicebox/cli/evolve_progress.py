"""How ``dicebox evolve`` shows a run: tqdm bars and a table per generation, and/or JSON lines.

With ``--events jsonl`` every event is one JSON object per line on stdout (see
:func:`dicebox.evolution.events.event_to_dict`) and the human display moves to stderr.
"""

from __future__ import annotations

import sys
from typing import TextIO

from dicebox.evolution.events import (
    ChampionChanged,
    ChampionRetrained,
    Event,
    GenerationStarted,
    GenerationSummary,
    IndividualTrained,
    RunFinished,
    RunStarted,
    event_to_json,
)

_HEADER = f"{'gen':>4}  {'best':>6}  {'average':>7}  {'failed':>6}  {'trained':>7}  {'cached':>6}  {'seconds':>8}  eta"


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.4f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressReporter:
    """Feeds events to the chosen outputs; :meth:`close` ends the bars."""

    def __init__(self, *, json_lines: bool, quiet: bool, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        # The table goes where the human reads: stdout, unless stdout carries the JSON lines.
        self.table = self.err if json_lines else self.out
        self._overall = None
        self._generation = None
        self._header_shown = False
        self._budget = False

    def __call__(self, event: Event) -> None:
        if self.json_lines:
            print(event_to_json(event), file=self.out, flush=True)
        self._show(event)

    def _bar(self, **kwargs):
        from tqdm import tqdm

        return tqdm(file=self.err, disable=self.quiet, dynamic_ncols=True, **kwargs)

    def _write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.table)
        self.table.flush()

    def _show(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            what = "resuming" if event.resumed else "starting"
            size = (f"time budget {event.time_budget:g} s, {event.population} per generation"
                    if event.time_budget is not None else f"{event.generations} x {event.population} individuals")
            self._write(
                f"{what} run {event.run_id} ({event.strategy}, {size}, "
                f"{event.epochs} epoch(s) each, seed {event.seed}) on {event.evaluator}"
            )
            if event.run_dir:
                self._write(f"run folder: {event.run_dir}")
            if event.time_budget is not None:
                self._budget = True
                self._overall = self._bar(total=round(event.time_budget), desc="budget", unit="s", position=0)
            else:
                self._overall = self._bar(total=event.individuals, desc="run", unit="net", position=0)
        elif isinstance(event, GenerationStarted):
            if self._generation is not None:
                self._generation.close()
            self._generation = self._bar(total=event.size, desc=f"generation {event.generation}/{event.generations}",
                                         unit="net", position=1, leave=False)
        elif isinstance(event, IndividualTrained):
            if self._overall is not None:
                if event.budget_used is not None:
                    self._overall.n = min(round(event.budget_used), self._overall.total)
                    self._overall.set_postfix_str(f"{event.done} nets", refresh=False)
                else:
                    self._overall.n = event.done
                    self._overall.set_postfix_str(f"eta {_duration(event.eta_seconds)}", refresh=False)
                self._overall.refresh()
            if event.stop_reason == "rung" and event.epochs_run is not None:
                self._write(f"  generation {event.generation} #{event.index} stopped early after "
                            f"{event.epochs_run} epoch(s): hopeless next to the networks measured before")
            if self._generation is not None:
                self._generation.update(1)
            if event.status != "ok":
                self._write(f"  generation {event.generation} #{event.index} failed: {event.error}")
        elif isinstance(event, GenerationSummary):
            if self._generation is not None:
                self._generation.close()
                self._generation = None
            if not self._header_shown:
                self._write(_HEADER)
                self._header_shown = True
            self._write(
                f"{event.generation:>4}  {_pct(event.best)}  {_pct(event.average):>7}  {event.failed:>6}  "
                f"{event.trained:>7}  {event.cached:>6}  {event.seconds:>8.1f}  {_duration(event.eta_seconds)}"
            )
        elif isinstance(event, ChampionChanged):
            where = f" -> {event.bundle}" if event.bundle else ""
            origin = f", {event.origin}" if event.origin else ""
            self._write(f"  new champion: {event.accuracy:.4f} (generation {event.generation} #{event.index}"
                        f"{origin}){where}")
        elif isinstance(event, ChampionRetrained):
            if event.accuracy is None:
                self._write(f"champion retraining failed: {event.error}")
            else:
                epochs = f"{event.epochs_run} epoch(s), " if event.epochs_run is not None else ""
                where = (f" on {event.test_samples} image(s) the search never saw" if event.evaluated_on == "test"
                         else "")
                self._write(f"champion retrained at full fidelity ({epochs}{event.seconds:.1f} s): "
                            f"{event.evaluated_on} accuracy {event.accuracy:.4f}{where} "
                            f"(search validation {event.search_accuracy:.4f})")
        elif isinstance(event, RunFinished):
            self.close()
            if event.champion_accuracy is not None:
                test = (f", test accuracy {event.champion_test_accuracy:.4f}"
                        if event.champion_test_accuracy is not None else "")
                self._write(f"champion: validation accuracy {event.champion_accuracy:.4f}{test}"
                            + (f", bundle {event.champion_bundle}" if event.champion_bundle else ""))
            self._write(f"run {event.run_id} {event.status}: {event.trained} trained, {event.cached} from the cache, "
                        f"{event.failed} failed, {_duration(event.seconds)}"
                        + (f" ({event.message})" if event.message else ""))

    def close(self) -> None:
        for bar in (self._generation, self._overall):
            if bar is not None:
                bar.close()
        self._generation = self._overall = None
