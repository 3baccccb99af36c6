"""Typed access to the ``key=value`` options of a source spec, with one-line errors."""

from __future__ import annotations

from collections.abc import Iterable

from .frames import SourceError

_TRUE = {"1", "true", "yes", "on", ""}
_FALSE = {"0", "false", "no", "off"}


class Options:
    """The options of one spec; each getter consumes its key and :meth:`finish` rejects the rest."""

    def __init__(self, spec: str, options: dict[str, str]) -> None:
        self._spec = spec
        self._left = dict(options)
        self._known: list[str] = []

    def _take(self, key: str) -> str | None:
        self._known.append(key)
        return self._left.pop(key, None)

    def _bad(self, key: str, value: str, expected: str) -> SourceError:
        return SourceError(f"{self._spec}: option {key} must be {expected}, got {value!r}")

    def get_int(
        self, key: str, default: int | None, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An integer option within [minimum, maximum]."""
        raw = self._take(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self._bad(key, raw, "an integer") from None
        self._check_range(key, raw, value, minimum, maximum)
        return value

    def get_float(
        self, key: str, default: float | None, minimum: float | None = None, maximum: float | None = None
    ) -> float | None:
        """A finite number option within [minimum, maximum]."""
        raw = self._take(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self._bad(key, raw, "a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise self._bad(key, raw, "a finite number")
        self._check_range(key, raw, value, minimum, maximum)
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        """A yes/no option: 1/0, true/false, yes/no, on/off; a bare ``key`` means yes."""
        raw = self._take(key)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self._bad(key, raw, "1 or 0 (true/false, yes/no, on/off)")

    def get_choice(self, key: str, default: str | None, choices: Iterable[str]) -> str | None:
        """One of ``choices`` (case-insensitive)."""
        raw = self._take(key)
        if raw is None:
            return default
        choices = tuple(choices)
        if raw.lower() not in choices:
            raise self._bad(key, raw, "one of " + ", ".join(choices))
        return raw.lower()

    def finish(self) -> None:
        """Raise :class:`SourceError` naming any option no getter asked for."""
        if self._left:
            unknown = ", ".join(sorted(self._left))
            known = ", ".join(sorted(set(self._known))) or "none"
            raise SourceError(f"{self._spec}: unknown option {unknown} (known options: {known})")

    def _check_range(
        self, key: str, raw: str, value: float, minimum: float | None, maximum: float | None
    ) -> None:
        if minimum is not None and value < minimum:
            raise self._bad(key, raw, f">= {minimum}")
        if maximum is not None and value > maximum:
            raise self._bad(key, raw, f"<= {maximum}")
