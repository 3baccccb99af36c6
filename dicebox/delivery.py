"""Delivering recorded frames to the sensory service in the background, through the spool.

``submit`` returns as soon as the frame is durably spooled; a delivery thread sends spooled
frames in batches and removes them once the service acknowledged them. While the service is
unreachable frames wait on disk and delivery retries with capped backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicebox.client import ClientError, NotFoundError, SensoryClient, ServiceUnavailable, Unauthorized, encode_png
from dicebox.spool import FrameSpool
from dicebox.store.names import parse_dataset_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryState:
    """What the operator sees: frames waiting, delivered this session, refused, and the link."""

    pending: int
    delivered: int
    rejected: int
    connected: bool
    last_error: str = ""
    last_rejection: str = ""


class FrameDelivery:
    """Spool-first delivery of frames to one service (the client may be swapped at any time)."""

    def __init__(
        self,
        spool_dir: Path,
        client: SensoryClient | None = None,
        *,
        batch_size: int = 32,
        max_backoff: float = 5.0,
        channels: int = 1,
        on_change: Callable[[DeliveryState], None] | None = None,
    ) -> None:
        self.spool = FrameSpool(spool_dir)
        self._client = client
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._channels = channels
        self._on_change = on_change
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._delivered = 0
        self._connected = False
        self._last_error = ""
        self._last_rejection = ""
        self._thread = threading.Thread(target=self._run, name="dicebox-delivery", daemon=True)
        self._thread.start()

    # Operator side ------------------------------------------------------------------------------
    def submit(self, dataset: str, category: str, image: np.ndarray | bytes) -> None:
        """Keep a frame for delivery (durable when this returns)."""
        png = encode_png(image) if isinstance(image, np.ndarray) else image
        self.spool.put(dataset, category, png)
        self._changed()
        self._wake.set()

    def set_client(self, client: SensoryClient | None) -> None:
        """Deliver to another service from now on (frames already spooled go there too)."""
        with self._lock:
            self._client = client
            self._connected = False
        self._wake.set()

    def state(self) -> DeliveryState:
        with self._lock:
            return DeliveryState(len(self.spool), self._delivered, self.spool.rejected_count(),
                                 self._connected, self._last_error, self._last_rejection)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the spool is empty (True) or ``timeout`` passes (False)."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        while len(self.spool) and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.spool) == 0

    def close(self) -> None:
        """Stop delivering; undelivered frames stay spooled for next time."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    # Delivery thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            with self._lock:
                client = self._client
            frames = self.spool.peek(self._batch_size) if client is not None else []
            if not frames:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                self._send(client, frames)
            except (ServiceUnavailable, Unauthorized) as exc:
                self._set_link(False, str(exc))
                self._wake.wait(timeout=backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = 0.2
            self._set_link(True, "")

    def _send(self, client: SensoryClient, frames: list) -> None:
        by_dataset: dict[str, list] = {}
        for frame in frames:
            by_dataset.setdefault(frame.dataset, []).append(frame)
        for dataset, group in by_dataset.items():
            try:
                try:
                    client.store_images(dataset, [(f.png, f.category) for f in group])
                except NotFoundError:
                    # A data set the service has not seen yet: create it, as the original did.
                    name, width, height = parse_dataset_id(dataset)
                    client.create_dataset(name, width, height, channels=self._channels)
                    client.store_images(dataset, [(f.png, f.category) for f in group])
            except (ServiceUnavailable, Unauthorized):
                raise
            except ClientError as exc:
                # One bad frame refuses the whole batch: find it by sending them one by one.
                log.warning("service refused a batch (%s); delivering one by one", exc)
                self._send_one_by_one(client, dataset, group)
                continue
            self.spool.remove(group)
            with self._lock:
                self._delivered += len(group)
            self._changed()

    def _send_one_by_one(self, client: SensoryClient, dataset: str, group: list) -> None:
        for frame in group:
            try:
                client.store_images(dataset, [(frame.png, frame.category)])
            except (ServiceUnavailable, Unauthorized):
                raise
            except ClientError as exc:
                log.warning("service refused frame %s: %s", frame.path.name, exc)
                self.spool.reject(frame.path)
                with self._lock:
                    self._last_rejection = str(exc)
                self._changed()
                continue
            self.spool.remove([frame])
            with self._lock:
                self._delivered += 1
            self._changed()

    def _set_link(self, connected: bool, error: str) -> None:
        with self._lock:
            changed = connected != self._connected or error != self._last_error
            self._connected, self._last_error = connected, error
        if changed:
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.state())
