"""Launching a sensory service as a child process: the GUI's one-click local service, the demo.

The child is ``dicebox serve --port 0`` on the user's data folder (so it uses the same API key
file); it prints the URL it listens on, which is read from its output. Its log is kept and
offered to listeners line by line. From a frozen (PyInstaller) app the child is the app's own
executable, so no ``python`` on the PATH is needed.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dicebox.plumbing.child_process import dicebox_command, die_with_parent

log = logging.getLogger(__name__)

READY_MARK = "listening on "


class LocalServiceError(RuntimeError):
    """The local service could not be started."""


class LocalService:
    """One child service process with its URL and recent log."""

    def __init__(
        self,
        data_dir: Path,
        *,
        config_file: Path | None = None,
        port: int = 0,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        on_log: Callable[[str], None] | None = None,
        on_exit: Callable[[int], None] | None = None,
        log_lines: int = 500,
    ) -> None:
        """``on_exit(status)`` is called (from a reader thread) when a started child ends without ``stop()``."""
        self.data_dir = Path(data_dir)
        self.config_file = config_file
        self.port = port
        self.extra_args = list(extra_args or [])
        self.env = env
        self.on_log = on_log
        self.on_exit = on_exit
        self.log: collections.deque[str] = collections.deque(maxlen=log_lines)
        self.url: str | None = None
        self._proc: subprocess.Popen | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 60.0) -> str:
        """Start the child and wait until it listens; returns its URL."""
        if self.running:
            return self.url or ""
        args = [*dicebox_command(), "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.config_file:
            args += ["--config", str(self.config_file)]
        args += self.extra_args
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        self._ready.clear()
        self.url = None
        # The child is started by its reader thread, which lives as long as it: Linux's parent-death
        # signal follows the thread that forked, so a child started from a short-lived worker
        # thread was sent SIGTERM as soon as that thread ended.
        spawned: list[subprocess.Popen | OSError] = []
        started = threading.Event()
        self._reader = threading.Thread(
            target=self._run, args=(args, env, spawned, started), name="dicebox-local-service-log", daemon=True
        )
        self._reader.start()
        started.wait()
        if isinstance(spawned[0], OSError):
            self._reader.join()
            self._reader = None
            raise LocalServiceError(f"cannot start the local service: {spawned[0]}") from spawned[0]
        proc = spawned[0]
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if proc.poll() is not None:
                tail = "\n".join(list(self.log)[-5:])
                raise LocalServiceError(f"the local service exited with status {proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServiceError(f"the local service did not start within {timeout:.0f} s")
        return self.url or ""

    def _run(self, args: list[str], env: dict[str, str], spawned: list, started: threading.Event) -> None:
        try:
            proc = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as exc:
            spawned.append(exc)
            started.set()
            return
        self._proc = proc
        spawned.append(proc)
        started.set()
        self._read_output(proc)

    def _read_output(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.log.append(line)
            if READY_MARK in line and not self._ready.is_set():
                self.url = line.rsplit(READY_MARK, 1)[1].strip()
                self._ready.set()
            if self.on_log is not None:
                self.on_log(line)
        # The child closed its output: it has ended. Unless stop() was asked for (it clears _proc
        # first) or start() is still waiting (it reports the failure itself), someone must hear of it.
        status = proc.wait()
        if proc is self._proc and self._ready.is_set() and self.on_exit is not None:
            log.warning("local service (pid %s) exited with status %s", proc.pid, status)
            self.on_exit(status)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after ``timeout``) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("local service did not stop in %.0f s; killing it", timeout)
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if proc.stdout is not None:
            proc.stdout.close()
