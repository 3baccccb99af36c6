"""Which sensory service the session talks to: a one-click local one, or a remote one (Qt-free).

:class:`ServiceLink` starts, stops and restarts the local service, checks a remote one before
using it and polls the current one's health, all on its own threads; what happens is told as
events (:class:`LinkEvent` subclasses), each carrying a snapshot of the link's state after it, so
a view that handles events later (on its UI thread) sees the state that went with each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dicebox.client.http import SensoryClient, ServiceUnavailable, Unauthorized
from dicebox.client.local_service import LocalService
from dicebox.config import Config

from .events import EventEmitter


@dataclass(frozen=True)
class LinkState:
    """The link at one moment: which service, whether it answers, what happened to the local one."""

    kind: str = "none"  # "none", "local" or "remote"
    client: SensoryClient | None = None
    local: LocalService | None = None
    healthy: bool = False
    note: str = ""  # what happened to the local service (a restart), for the operator
    local_dead: bool = False  # the local service died and was not restarted

    @property
    def url(self) -> str:
        return self.client.base_url if self.client is not None else ""


@dataclass(frozen=True, kw_only=True)
class LinkEvent:
    state: LinkState


@dataclass(frozen=True, kw_only=True)
class Connected(LinkEvent):
    client: SensoryClient


@dataclass(frozen=True, kw_only=True)
class Disconnected(LinkEvent):
    why: str


@dataclass(frozen=True, kw_only=True)
class HealthChanged(LinkEvent):
    healthy: bool


@dataclass(frozen=True, kw_only=True)
class NoteChanged(LinkEvent):
    note: str


@dataclass(frozen=True, kw_only=True)
class LocalChanged(LinkEvent):
    """The local service was launched (starting), stopped or left dead."""


@dataclass(frozen=True, kw_only=True)
class LogLine(LinkEvent):
    line: str


@dataclass(frozen=True, kw_only=True)
class Failed(LinkEvent):
    """Something the operator asked for did not happen (for a dialog)."""

    title: str
    message: str


class ServiceLink:
    """The current service: starts/stops the local one, validates a remote one, watches health.

    A local service that dies is restarted at once, at most ``MAX_RESTARTS`` times in
    ``RESTART_WINDOW`` seconds (a service that keeps crashing is left stopped for the operator);
    the ``note`` says what happened. Health is asked every ``health_interval`` seconds; one slow
    answer (a busy service) is not an outage, two misses in a row are.

    Events are emitted on the link's threads (or the caller's) while its state lock is held, so
    they arrive in order; a listener must be quick and must not wait for another of the link's
    threads.
    """

    MAX_RESTARTS = 3
    RESTART_WINDOW = 600.0

    def __init__(
        self,
        config: Config,
        *,
        health_interval: float = 2.0,
        local_factory: Callable[..., LocalService] = LocalService,
    ) -> None:
        self.config = config
        self.events: EventEmitter[LinkEvent] = EventEmitter()
        self.health_interval = health_interval
        self._local_factory = local_factory
        self._lock = threading.RLock()
        self._kind = "none"
        self._client: SensoryClient | None = None
        self.local: LocalService | None = None
        self._healthy = False
        self._note = ""
        self._local_dead = False
        self._deaths: list[float] = []
        self._misses = 0
        self._stopping = threading.Event()
        self._shut_down = False  # after shutdown() no health polling starts again
        self._health_thread: threading.Thread | None = None

    # State ----------------------------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        return LinkState(self._kind, self._client, self.local, self._healthy, self._note, self._local_dead)

    @property
    def client(self) -> SensoryClient | None:
        return self._client

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def note(self) -> str:
        return self._note

    @property
    def local_dead(self) -> bool:
        return self._local_dead

    # Local ----------------------------------------------------------------------------------
    def start_local(self) -> None:
        """Launch ``dicebox serve`` on a free port with the user's data folder (in the background)."""
        with self._lock:
            self.stop_local()
            self._set_note("")
            self._deaths.clear()
            self._launch_local()

    def toggle_local(self) -> None:
        """Stop the local service if it runs (or starts); otherwise start it (again)."""
        with self._lock:
            if self.local is not None and not self._local_dead:
                self.stop_local()
            else:
                self.start_local()

    def _launch_local(self) -> None:
        self._local_dead = False
        service = self.local = self._local_factory(
            self.config.home, config_file=self.config.source, on_log=self._log_line
        )
        # Handled on a thread of its own: the reader thread that notices the exit is joined by stop().
        service.on_exit = lambda status: self._spawn(self._local_exited, service, status)
        self.events.emit(LocalChanged(state=self.state))
        self._spawn(self._start_local, service)

    def _start_local(self, service: LocalService) -> None:
        try:
            url = service.start()
        except Exception as exc:  # noqa: BLE001 - told to the operator
            message = str(exc) or type(exc).__name__
            with self._lock:
                if service is self.local:
                    self._local_dead = True
                    self._set_note(f"did not start: {message}")
                    self.events.emit(Disconnected(state=self.state, why="the local service did not start"))
                    self.events.emit(Failed(state=self.state, title="Local service did not start", message=message))
            return
        client = SensoryClient(
            url, self.config.server.api_access_key, api_version=self.config.server.api_version, retries=0, timeout=5
        )
        with self._lock:
            if service is self.local:
                self._kind = "local"
                self._use(client)

    def _local_exited(self, service: LocalService, status: int) -> None:
        with self._lock:
            if service is not self.local:
                return  # one that was stopped or replaced
            now = time.monotonic()
            self._deaths = [t for t in self._deaths if now - t < self.RESTART_WINDOW] + [now]
            why = f"the local service stopped unexpectedly (exit status {status})"
            service.stop()
            deaths, minutes = len(self._deaths), self.RESTART_WINDOW / 60
            if deaths <= self.MAX_RESTARTS:
                self._set_note(
                    f"restarted: it stopped with exit status {status} "
                    f"(restart {deaths} of {self.MAX_RESTARTS} allowed in {minutes:.0f} min)"
                )
                self._drop(why)
                self._launch_local()
            else:
                self._local_dead = True
                self._set_note(
                    f"not restarted: it stopped {deaths} times in {minutes:.0f} min (last exit status {status}); "
                    "see the Service log"
                )
                self._drop(why)

    def stop_local(self) -> None:
        with self._lock:
            if self.local is None:
                return
            local, self.local = self.local, None
            self._local_dead = False
            local.stop()
            if self._kind == "local":
                self._drop("local service stopped")
            else:
                self.events.emit(LocalChanged(state=self.state))

    def _log_line(self, line: str) -> None:
        # Not under the lock: the reader thread calling this is joined by stop(), which holds it.
        self.events.emit(LogLine(state=self.state, line=line))

    def _set_note(self, note: str) -> None:
        if note != self._note:
            self._note = note
            self.events.emit(NoteChanged(state=self.state, note=note))

    # Remote ---------------------------------------------------------------------------------
    def connect_remote(self, url: str, key: str) -> None:
        """Check a remote service (reachable, key accepted) in the background, then use it."""
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            message = f"{url!r} is not an http:// or https:// address"
            self.events.emit(Failed(state=self.state, title="Cannot connect", message=message))
            return
        client = SensoryClient(url, key.strip(), api_version=self.config.server.api_version, retries=0, timeout=5)
        self._spawn(self._connect_remote, client, url)

    def _connect_remote(self, client: SensoryClient, url: str) -> None:
        try:
            if not client.health():
                raise ServiceUnavailable(f"no dicebox service answers at {url}")
            try:
                client.datasets()
            except Unauthorized:
                raise Unauthorized("the service refused the API key") from None
        except Exception as exc:  # noqa: BLE001 - told to the operator
            message = str(exc) or type(exc).__name__
            self.events.emit(Failed(state=self.state, title="Cannot connect", message=message))
            return
        with self._lock:
            self.stop_local()
            self._set_note("")
            self._kind = "remote"
            self._use(client)

    # Common ---------------------------------------------------------------------------------
    def _use(self, client: SensoryClient) -> None:
        self._client = client
        self._healthy = True
        self._misses = 0
        self.events.emit(HealthChanged(state=self.state, healthy=True))
        self.events.emit(Connected(state=self.state, client=client))
        self._ensure_health_thread()

    def _drop(self, why: str) -> None:
        self._client = None
        self._kind = "none"
        if self._healthy:
            self._healthy = False
            self.events.emit(HealthChanged(state=self.state, healthy=False))
        self.events.emit(Disconnected(state=self.state, why=why))

    def _ensure_health_thread(self) -> None:
        if self._shut_down:
            return  # a connection that finished after the session ended: nothing to watch
        if self._health_thread is None or not self._health_thread.is_alive():
            self._stopping.clear()
            self._health_thread = threading.Thread(target=self._watch_health, name="dicebox-link-health", daemon=True)
            self._health_thread.start()

    def _watch_health(self) -> None:
        while not self._stopping.wait(self.health_interval):
            client = self._client
            if client is None:
                continue
            ok = client.health()  # returns False on any failure, within the client's timeout
            with self._lock:
                if client is not self._client:
                    continue  # the link moved on while the answer was on its way
                self._misses = 0 if ok else self._misses + 1
                healthy = ok or self._misses < 2
                if healthy != self._healthy:
                    self._healthy = healthy
                    self.events.emit(HealthChanged(state=self.state, healthy=healthy))

    def _spawn(self, target: Callable[..., object], *args: object) -> None:
        threading.Thread(target=target, args=args, name="dicebox-link", daemon=True).start()

    def shutdown(self) -> None:
        """Stop health polling and the local service (without events: the session is ending)."""
        with self._lock:  # a connection finishing now either sees this or is stopped with the rest
            self._shut_down = True
            self._stopping.set()
            local, self.local = self.local, None
        if local is not None:
            local.stop()
        if self._health_thread is not None:
            self._health_thread.join(timeout=self.health_interval + 6)
            self._health_thread = None
