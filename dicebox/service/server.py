"""Serving the application with waitress (runs the same on Windows, macOS and Linux)."""

from __future__ import annotations

import logging
import threading

import waitress
from flask import Flask
from waitress import wasyncore

log = logging.getLogger(__name__)


class ServiceServer:
    """A waitress server for one app, run in the foreground or on a background thread."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 5000, threads: int = 8) -> None:
        self.app = app
        self._server = waitress.create_server(
            app, host=host, port=port, threads=threads, ident="dicebox", clear_untrusted_proxy_headers=True
        )
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None
        self._serving_thread: int | None = None

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
        if self._serving_thread in (None, threading.get_ident()):
            self._close_all()
        else:
            # Sockets belong to the loop's thread: ask the loop to close them itself.
            self._server.trigger.pull_trigger(self._close_all)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._server.task_dispatcher.shutdown()

    def _close_all(self) -> None:
        wasyncore.close_all(self._server._map)
