"""Delivering recorded frames to the sensory service in the background, through the spool.

``submit`` returns as soon as the frame is durably spooled; a delivery thread sends spooled
frames in batches and removes them once the service acknowledged them. Only the service's
definite answer that a frame can never be stored (:data:`FRAME_REFUSALS`) sets that frame aside;
any other failure (unreachable, 5xx including a full disk, a refused key, a missing route, a
malformed answer) keeps every frame spooled and retries with capped backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dicebox.client.http import ClientError, NotFoundError, SensoryClient
from dicebox.client.spool import FrameSpool
from dicebox.images import encode_png
from dicebox.plumbing.backoff import Backoff

log = logging.getLogger(__name__)

# (status, error code) of the service's answers that mean "this frame can never be stored": the
# frame's own image, category or size (STORE_ERRORS in dicebox.service.errors) or a body too large
# for one frame. A 401, a 404, a 5xx or a proxy's HTML page says nothing about the frame.
FRAME_REFUSALS = frozenset(
    {
        (400, "invalid_image"),
        (400, "invalid_name"),
        (400, "invalid_field"),
        (409, "conflict"),
        (413, "image_too_large"),
        (413, "request_entity_too_large"),
    }
)


def refuses_frame(exc: BaseException) -> bool:
    """True when ``exc`` is the service's definite refusal of the frames it was sent."""
    return isinstance(exc, ClientError) and (exc.status, exc.code) in FRAME_REFUSALS


@dataclass(frozen=True)
class DeliveryState:
    """What the operator sees: frames waiting, delivered this session, refused, and the link.

    ``last_error`` says why frames are waiting (empty once a delivery succeeded).
    """

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
        self._wake = threading.Event()  # new frames, or anything else worth looking at
        self._retry_now = threading.Event()  # cuts a backoff short (new client, flush, close)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._delivered = 0
        self._connected = False
        self._last_error = ""
        self._last_rejection = ""
        self._thread = threading.Thread(target=self._run, name="dicebox-delivery", daemon=True)
        self._thread.start()

    # Operator side ------------------------------------------------------------------------------
    def submit(self, dataset_id: str, category: str, image: np.ndarray | bytes) -> None:
        """Keep a frame for delivery (durable when this returns)."""
        png = encode_png(image) if isinstance(image, np.ndarray) else image
        self.spool.put(dataset_id, category, png)
        self._changed()
        self._wake.set()

    def set_client(self, client: SensoryClient | None) -> None:
        """Deliver to another service from now on (frames already spooled go there too)."""
        with self._lock:
            self._client = client
            self._connected = False
        self._retry_now.set()
        self._wake.set()

    def state(self) -> DeliveryState:
        with self._lock:
            return DeliveryState(
                len(self.spool),
                self._delivered,
                self.spool.rejected_count(),
                self._connected,
                self._last_error,
                self._last_rejection,
            )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the spool is empty (True) or ``timeout`` passes (False)."""
        self._retry_now.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        while len(self.spool) and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.spool) == 0

    def close(self) -> None:
        """Stop delivering; undelivered frames stay spooled for next time."""
        self._stop.set()
        self._retry_now.set()
        self._wake.set()
        self._thread.join(timeout=10)

    # Delivery thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = Backoff(initial=0.2, cap=self._max_backoff)
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
            except Exception as exc:  # noqa: BLE001 - whatever failed, the frames stay spooled
                message = str(exc) if isinstance(exc, ClientError) else f"{type(exc).__name__}: {exc}"
                if message != self._last_error:
                    log.warning("frames kept in the spool: %s", message)
                self._set_link(False, message)
                # Only a new client, a flush or close cuts this short: new frames must not.
                self._retry_now.wait(timeout=backoff.next())
                self._retry_now.clear()
                continue
            backoff.reset()
            self._set_link(True, "")

    def _send(self, client: SensoryClient, frames: list) -> None:
        """Deliver ``frames``; raises (leaving the rest spooled) on anything but a refusal."""
        by_dataset: dict[str, list] = {}
        for frame in frames:
            by_dataset.setdefault(frame.dataset_id, []).append(frame)
        for dataset_id, group in by_dataset.items():
            try:
                self._store(client, dataset_id, group)
            except ClientError as exc:
                if not refuses_frame(exc):
                    raise
                if len(group) == 1:
                    self._reject(group[0], exc)
                else:
                    # One bad frame refuses the whole batch: find it by sending them one by one.
                    log.warning("service refused a batch (%s); delivering one by one", exc)
                    self._send_one_by_one(client, dataset_id, group)
                continue
            self._delivered_now(group)

    def _send_one_by_one(self, client: SensoryClient, dataset_id: str, group: list) -> None:
        for frame in group:
            try:
                self._store(client, dataset_id, [frame])
            except ClientError as exc:
                if not refuses_frame(exc):
                    raise
                self._reject(frame, exc)
                continue
            self._delivered_now([frame])

    def _store(self, client: SensoryClient, dataset_id: str, group: list) -> None:
        try:
            client.store_images(dataset_id, [(f.png, f.category) for f in group])
        except NotFoundError:
            client.ensure_dataset(dataset_id, channels=self._channels)  # a data set the service has not seen yet
            client.store_images(dataset_id, [(f.png, f.category) for f in group])

    def _delivered_now(self, frames: list) -> None:
        self.spool.remove(frames)
        with self._lock:
            self._delivered += len(frames)
        self._changed()

    def _reject(self, frame, exc: ClientError) -> None:
        log.warning("service refused frame %s: %s", frame.path.name, exc)
        self.spool.reject(frame.path)
        with self._lock:
            self._last_rejection = str(exc)
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
