"""Serving the application with waitress (runs the same on Windows, macOS and Linux).

waitress alone lets 100 connections that send nothing lock every client out for two minutes
(its connection limit and idle timeout). Here a connection must send its request promptly: it is
closed after ``idle_seconds`` without a byte, when its request line and headers take longer than
``request_seconds``, or when the request (body included) then arrives slower than
``min_upload_rate`` bytes a second on average. The connection limit follows the open-file limit,
and at the limit the connections idle the longest are closed to make room for new clients.
benchmarks/bench_idle_connections.py measures how long /api/v1/health then takes.
"""

from __future__ import annotations

import logging
import select
import threading
import time

from flask import Flask
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

log = logging.getLogger(__name__)

IDLE_SECONDS = 10.0
REQUEST_SECONDS = 10.0
MIN_UPLOAD_RATE = 4096
MAX_CONNECTIONS = 1000
# How long a replica told to stop (SIGTERM) lets the requests under way finish.
DRAIN_SECONDS = 15.0
# File descriptors kept for the store, the logs and a request's spooled body or answer.
_RESERVED_FILES = 128


def default_connection_limit() -> int:
    """Up to :data:`MAX_CONNECTIONS`, within what the open-file limit and ``select()`` allow."""
    if not hasattr(select, "poll"):  # Windows: select() takes at most 512 sockets
        return 400
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 100
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    # An active connection may hold its socket and a temporary file for a large body or answer.
    return max(100, min(MAX_CONNECTIONS, (soft - _RESERVED_FILES) // 2))


class _Channel(HTTPChannel):
    """A connection that remembers when its current request began and how many bytes of it came."""

    request_started = 0.0
    request_bytes = 0

    def received(self, data: bytes) -> bool:
        before = self.request
        result = super().received(data)
        if self.request is not None:
            if self.request is not before:
                self.request_started, self.request_bytes = time.time(), 0
            self.request_bytes += len(data)
        return result


class _Listener(TcpWSGIServer):
    """waitress' TCP server, also closing connections whose request does not arrive in time, and
    making room for new clients at the connection limit."""

    channel_class = _Channel
    _next_limit_warning = 0.0

    def __init__(self, app: Flask, *, request_seconds: float, min_upload_rate: float, **adjustments) -> None:
        self.request_seconds = request_seconds
        self.min_upload_rate = min_upload_rate
        adj = Adjustments(**adjustments)
        super().__init__(app, adj=adj, sockinfo=adj.listen[0])

    def readable(self) -> bool:
        """waitress' check, but at the connection limit the longest idle connections make room."""
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        if len(self._map) < self.adj.connection_limit:
            return True
        self._make_room(now)
        return False  # accept again once those are closed, on the loop's next turn

    def _make_room(self, now: float) -> None:
        channels = list(self.active_channels.values())
        closing = sum(1 for c in channels if c.will_close or c.close_when_flushed)
        wanted = len(self._map) - self.adj.connection_limit + max(1, self.adj.connection_limit // 100) - closing
        if wanted <= 0:
            return
        # Only connections between requests, quiet for a second (a new one gets the time to send its
        # request): never one with a request arriving, running or being answered.
        idle = [
            c
            for c in channels
            if now - c.last_activity >= 1.0
            and not (c.will_close or c.close_when_flushed or c.requests or c.request or c.total_outbufs_len)
        ]
        idle.sort(key=lambda c: c.last_activity)
        for channel in idle[:wanted]:
            channel.will_close = True
        if idle and now >= self._next_limit_warning:
            self._next_limit_warning = now + 60
            log.warning("%d connections open (the limit): closing those idle the longest", len(self._map))

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # closes connections idle for longer than channel_timeout
        for channel in list(self.active_channels.values()):
            if self._overdue(channel, now):
                log.info("closing a connection from %s: its request is arriving too slowly", channel.addr)
                channel.will_close = True

    def _overdue(self, channel: _Channel, now: float) -> bool:
        partial = channel.request
        if partial is None or channel.requests or channel.will_close:
            return False
        elapsed = now - channel.request_started
        if not partial.headers_finished:
            return elapsed > self.request_seconds
        return channel.request_bytes < self.min_upload_rate * (elapsed - self.request_seconds)


class ServiceServer:
    """A waitress server for one app, run in the foreground or on a background thread."""

    def __init__(
        self,
        app: Flask,
        host: str = "127.0.0.1",
        port: int = 5000,
        threads: int = 8,
        *,
        connection_limit: int | None = None,
        idle_seconds: float = IDLE_SECONDS,
        request_seconds: float = REQUEST_SECONDS,
        min_upload_rate: float = MIN_UPLOAD_RATE,
    ) -> None:
        self.app = app
        self._server = _Listener(
            app,
            request_seconds=request_seconds,
            min_upload_rate=min_upload_rate,
            host=host,
            port=port,
            threads=threads,
            ident="dicebox",
            clear_untrusted_proxy_headers=True,
            connection_limit=connection_limit or default_connection_limit(),
            channel_timeout=idle_seconds,
            # How often overdue connections are looked for: the bounds above hold to about a second.
            cleanup_interval=min(1.0, idle_seconds, request_seconds),
            # select() cannot watch sockets numbered 1024 and up; poll() can (it is missing on Windows).
            asyncore_use_poll=hasattr(select, "poll"),
        )
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None
        self._serving_thread: int | None = None
        self._drain_deadline = 0.0

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`close` is called (from a signal handler or another thread)."""
        self._serving_thread = threading.get_ident()
        try:
            self._server.run()
        except OSError:
            # The loop may see EBADF once close() has closed its sockets.
            pass
        finally:
            self._server.task_dispatcher.shutdown()

    def start(self) -> ServiceServer:
        """Serve on a background thread (tests, the demo)."""
        self._thread = threading.Thread(target=self.serve_forever, name="dicebox-service", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: close the listener and every connection, finish running requests."""
        self._on_loop(self._close_all)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._server.task_dispatcher.shutdown()

    def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """Stop serving gracefully (a rolling update): refuse new connections at once, let the
        requests under way finish, close each connection once it is idle, and stop when none is
        left, or after ``seconds`` whatever remains. Returns at once (safe in a signal handler)."""
        self._drain_deadline = time.monotonic() + seconds
        self._on_loop(self._stop_listening)
        threading.Thread(target=self._drain_steps, name="dicebox-drain", daemon=True).start()

    def _on_loop(self, work) -> None:
        if self._serving_thread in (None, threading.get_ident()):
            work()
        else:
            # Sockets belong to the loop's thread: ask the loop to do it itself.
            try:
                self._server.trigger.pull_trigger(work)
            except OSError:
                # The loop has closed its wake-up pipe (it is ending or ended): nobody else runs it.
                work()

    def _drain_steps(self) -> None:
        while self._server._map:
            try:
                self._server.trigger.pull_trigger(self._drain_step)
            except OSError:
                return  # the loop closed everything meanwhile
            time.sleep(0.1)

    def _stop_listening(self) -> None:
        if self._server.accepting:
            self._server.accepting = False
            self._server.del_channel()
            self._server.socket.close()
            log.info("draining: no new connections; finishing the requests under way")

    def _drain_step(self) -> None:
        channels = [c for c in self._server._map.values() if isinstance(c, HTTPChannel)]
        if not channels or time.monotonic() >= self._drain_deadline:
            if channels:
                log.warning("drain time over: closing %d connection(s) with requests under way", len(channels))
            self._close_all()
            return
        now = time.time()
        for channel in channels:
            # Idle between requests, and quiet for a moment: a connection just accepted gets the
            # time to send the request its client (or load balancer) opened it for.
            busy = channel.requests or channel.request or channel.total_outbufs_len or channel.will_close
            if not busy and now - channel.last_activity >= 1.0:
                channel.will_close = True

    def _close_all(self) -> None:
        wasyncore.close_all(self._server._map)
