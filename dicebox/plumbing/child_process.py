"""Child ``dicebox`` processes: how to start one, and running ``dicebox evolve``/``train`` while reading its events.

The GUI and the demo start evolution this way: TensorFlow then runs in its own process, so the
window's event loop never waits for it, and the child's JSON event lines (one object per line
on stdout, ``--json-events``) arrive here as dicts. Stopping sends SIGINT (Ctrl-C), on which
the child saves its state so the run can be resumed; it is killed only if it does not stop.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def dicebox_command() -> list[str]:
    """How to run the ``dicebox`` command from this process (installed, from source or frozen)."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "dicebox"]


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the app dies without stopping it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ChildProcess:
    """One ``dicebox`` subcommand in a child process; JSON lines go to ``on_event``."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        on_event: Callable[[dict], None] | None = None,
        on_line: Callable[[str], None] | None = None,
        stderr_to_terminal: bool = False,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.on_event = on_event
        self.on_line = on_line
        self.stderr_to_terminal = stderr_to_terminal
        self.env = env
        self.cwd = cwd
        self.events: list[dict] = []
        self._proc: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def start(self) -> ChildProcess:
        # TensorFlow's C++ start-up chatter would flood the GUI's log view.
        env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        creation = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32" else {}
        self._proc = subprocess.Popen(
            [*dicebox_command(), *self.args],
            stdout=subprocess.PIPE,
            stderr=None if self.stderr_to_terminal else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            cwd=self.cwd,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            **creation,
        )
        self._readers = [threading.Thread(target=self._read_stdout, name="dicebox-child-stdout", daemon=True)]
        if not self.stderr_to_terminal:
            self._readers.append(threading.Thread(target=self._read_stderr, name="dicebox-child-stderr", daemon=True))
        for reader in self._readers:
            reader.start()
        return self

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                if isinstance(event, dict) and "event" in event:
                    self.events.append(event)
                    if self.on_event is not None:
                        self.on_event(event)
                    continue
            if line and self.on_line is not None:
                self.on_line(line)

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            line = line.rstrip()
            if line and self.on_line is not None:
                self.on_line(line)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end and for its output to be read; returns its exit status."""
        assert self._proc is not None
        code = self._proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ask the child to stop (Ctrl-C: it saves its state), kill it if it does not."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.CTRL_BREAK_EVENT if sys.platform == "win32" else signal.SIGINT)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("child %s did not stop in %.0f s; killing it", self.args[:1], timeout)
                proc.kill()
                proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        return proc.returncode
