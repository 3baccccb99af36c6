"""Threaded capture: one reader thread per source, the newest frame always at hand.

The reader thread owns the source: it reads, skips the camera's warm-up frames, paces files and
the synthetic camera at their frame rate, and publishes each frame under a lock. Consumers poll
:meth:`CaptureThread.latest`, which never waits for the device. When a camera stops delivering
(unplugged), the thread closes it and keeps trying to open it again with a capped backoff, in
state ``"reconnecting"``; nothing is raised at the caller. :meth:`CaptureThread.stop` returns
within its join timeout even if a driver call hangs; the (daemon) thread then releases the source
itself when that call returns.

States: ``idle`` (not started), ``running``, ``reconnecting``, ``ended`` (a finite file or folder
ran out), ``error`` (a source that cannot recover failed; see :attr:`CaptureThread.error`) and
``stopped``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .frames import Frame, FrameSource, SourceError

log = logging.getLogger(__name__)

IDLE = "idle"
RUNNING = "running"
RECONNECTING = "reconnecting"
ENDED = "ended"
ERROR = "error"
STOPPED = "stopped"


@dataclass(frozen=True)
class CaptureStatus:
    """A consistent snapshot of a capture thread, for a status bar."""

    state: str
    error: str | None
    fps: float
    frames: int
    last_seq: int | None


class CaptureThread:
    """Reads ``source`` on its own thread and keeps the latest frame; see the module docstring.

    ``warmup`` frames are dropped after every (re)open (default: the source's ``warmup_frames``,
    5 for cameras, 0 otherwise); ``paced`` overrides the source's wish to be paced at its
    ``nominal_fps``; ``on_frame`` is called on the reader thread with each published frame.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        warmup: int | None = None,
        paced: bool | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        failures_before_reconnect: int = 3,
        initial_backoff: float = 0.1,
        max_backoff: float = 2.0,
        join_timeout: float = 2.0,
    ) -> None:
        self.source = source
        self.warmup = source.warmup_frames if warmup is None else max(0, int(warmup))
        self.paced = source.paced if paced is None else paced
        self.on_frame = on_frame
        self.failures_before_reconnect = max(1, failures_before_reconnect)
        self.initial_backoff = initial_backoff
        self.max_backoff = max(max_backoff, initial_backoff)
        self.join_timeout = join_timeout
        self._cond = threading.Condition()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Frame | None = None
        self._state = IDLE
        self._error: str | None = None
        self._frames = 0
        self._stamps: deque[float] = deque(maxlen=30)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> CaptureThread:
        """Start the reader thread; a capture thread runs once."""
        with self._cond:
            if self._thread is not None or self._state != IDLE:
                raise RuntimeError("a CaptureThread can only be started once")
            self._state = RUNNING
            self._thread = threading.Thread(target=self._run, name=f"capture {self.source.spec}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Stop reading and release the source; True if the thread ended within ``timeout`` seconds.

        Never blocks longer than ``timeout`` (default: ``join_timeout``). Safe to call repeatedly
        and before :meth:`start`.
        """
        self._stop_event.set()
        thread = self._thread
        if thread is None:
            self.source.close()
            self._set_state(STOPPED)
            return True
        if thread is threading.current_thread():  # stop() from an on_frame callback
            return False
        thread.join(self.join_timeout if timeout is None else timeout)
        return not thread.is_alive()

    def __enter__(self) -> CaptureThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what consumers poll ------------------------------------------------------------------

    def latest(self) -> Frame | None:
        """The newest frame, or None before the first one; never waits for the device."""
        with self._cond:
            return self._latest

    def wait_for_frame(self, newer_than: int | None = None, timeout: float = 1.0) -> Frame | None:
        """Wait up to ``timeout`` s for a frame whose seq is above ``newer_than`` (any frame if None)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                frame = self._latest
                if frame is not None and (newer_than is None or frame.seq > newer_than):
                    return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._state not in (RUNNING, RECONNECTING):
                    return None
                self._cond.wait(remaining)

    @property
    def state(self) -> str:
        """One of idle, running, reconnecting, ended, error, stopped."""
        with self._cond:
            return self._state

    @property
    def error(self) -> str | None:
        """The last failure, one line (also while reconnecting), else None."""
        with self._cond:
            return self._error

    @property
    def running(self) -> bool:
        """Whether the thread is (trying to be) delivering frames."""
        return self.state in (RUNNING, RECONNECTING)

    @property
    def fps(self) -> float:
        """Frames published per second over the last ~30 frames."""
        with self._cond:
            return self._measured_fps()

    def status(self) -> CaptureStatus:
        """State, error, measured fps, frames published and the latest seq, all at one instant."""
        with self._cond:
            last = self._latest.seq if self._latest is not None else None
            return CaptureStatus(self._state, self._error, self._measured_fps(), self._frames, last)

    def _measured_fps(self) -> float:
        stamps = self._stamps
        if len(stamps) < 2 or stamps[-1] <= stamps[0]:
            return 0.0
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])

    # -- the reader thread --------------------------------------------------------------------

    def _set_state(self, state: str, error: str | None = None) -> None:
        with self._cond:
            if self._state == STOPPED:
                return
            self._state = state
            if error is not None:
                self._error = error
            self._cond.notify_all()

    def _publish(self, frame: Frame) -> None:
        # A private copy: some drivers hand out buffers they overwrite on the next read.
        frame = Frame(frame.image.copy(), frame.seq, frame.timestamp, frame.label)
        with self._cond:
            self._latest = frame
            self._frames += 1
            self._stamps.append(time.monotonic())
            self._cond.notify_all()
        if self.on_frame is not None:
            try:
                self.on_frame(frame)
            except Exception:  # a consumer's bug must not kill the capture
                log.exception("on_frame callback failed for %s", self.source.spec)

    def _run(self) -> None:
        final = STOPPED
        try:
            final = self._loop()
        except Exception as exc:  # report anything unexpected as a state instead of dying silently
            log.exception("capture of %s failed", self.source.spec)
            final = ERROR
            self._set_state(ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            try:
                self.source.close()
            except (SourceError, OSError) as exc:
                log.warning("closing %s failed: %s", self.source.spec, exc)
            with self._cond:
                if self._stop_event.is_set() and final not in (ERROR, ENDED):
                    final = STOPPED
                self._state = final
                self._cond.notify_all()

    def _loop(self) -> str:
        stop = self._stop_event
        warmup_left = self.warmup
        failures = 0
        next_due = time.monotonic()
        while not stop.is_set():
            try:
                frame = self.source.read()
            except SourceError as exc:
                failures += 1
                if failures < self.failures_before_reconnect:
                    stop.wait(0.02)
                    continue
                if not self.source.can_reopen:
                    self._set_state(ERROR, str(exc))
                    return ERROR
                if not self._reconnect(str(exc)):
                    return STOPPED
                failures, warmup_left = 0, self.warmup
                next_due = time.monotonic()
                continue
            failures = 0
            if frame is None:
                return ENDED
            if warmup_left > 0:
                warmup_left -= 1
                continue
            self._publish(frame)
            fps = self.source.nominal_fps
            if self.paced and fps:
                period = 1.0 / fps
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    stop.wait(delay)
                elif delay < -period:  # fell behind: start a new schedule rather than burst
                    next_due = time.monotonic()
        return STOPPED

    def _reconnect(self, reason: str) -> bool:
        """Close the source and reopen it with capped exponential backoff; False if stopped first."""
        self._set_state(RECONNECTING, reason)
        log.warning("%s: %s; reconnecting", self.source.spec, reason)
        try:
            self.source.close()
        except (SourceError, OSError):
            pass
        delay = self.initial_backoff
        while not self._stop_event.wait(delay):
            try:
                self.source.reopen()
            except SourceError as exc:
                self._set_state(RECONNECTING, str(exc))
                delay = min(delay * 2, self.max_backoff)
                continue
            self._set_state(RUNNING)
            log.info("%s: reconnected", self.source.spec)
            return True
        return False
