"""A run's wall-clock across restarts: seconds spent in all its sessions, and in its current generation."""

from __future__ import annotations

from collections.abc import Callable


class RunClock:
    """Counts the seconds of ``clock`` (monotonic) since the last :meth:`tick` into both totals."""

    def __init__(self, clock: Callable[[], float], elapsed: float = 0.0, generation_elapsed: float = 0.0) -> None:
        self.clock = clock
        self.elapsed = elapsed
        self.generation_elapsed = generation_elapsed
        self._mark = clock()

    def tick(self) -> None:
        now = self.clock()
        self.elapsed += now - self._mark
        self.generation_elapsed += now - self._mark
        self._mark = now

    def spent(self) -> float:
        """Seconds of the whole run so far, up to now."""
        return self.elapsed + (self.clock() - self._mark)

    def restart(self, elapsed: float, generation_elapsed: float) -> None:
        """Continue a saved run's totals from now."""
        self.elapsed, self.generation_elapsed = elapsed, generation_elapsed
        self._mark = self.clock()
