"""Capped exponential backoff with jitter, for reconnecting to the broker or the sensory service."""

from __future__ import annotations

import random


class Backoff:
    """Delays ``initial, 2*initial, ...`` up to ``cap``, each shortened by up to ``jitter`` (a fraction)."""

    def __init__(
        self, initial: float = 0.2, cap: float = 10.0, jitter: float = 0.2, rng: random.Random | None = None
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._next = initial

    def next(self) -> float:
        """The delay before the next attempt; doubles each call until ``cap``."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        # Jitter keeps many processors from reconnecting to a restarted broker in lockstep.
        return delay * (1 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self._next = self.initial
