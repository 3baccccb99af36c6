"""A Python client for the sensory service (native and original API), used by the GUI and trainer.

Timeouts on every call, retries with capped exponential backoff for transient failures
(connection refused, timeouts, 502/503/504) and one exception type per kind of failure.

Only a request that is safe to repeat is repeated after a timeout, a dropped connection or a
502/504: reads, and writes whose repetition changes nothing (storing an image the service already
has is a no-op, as it identifies an image by its pixels). Any other POST, placing an order say, is
repeated only when it cannot have done anything: the connection was never made, or the service
answered 503 (it did nothing). Otherwise :class:`OutcomeUnknown` says it may have been done.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
import requests
from urllib3.exceptions import NewConnectionError

from dicebox.images import LabelledImages, encode_png, read_npz
from dicebox.plumbing.backoff import Backoff
from dicebox.store.names import InvalidName, parse_dataset_id

TRANSIENT_STATUSES = {502, 503, 504}
# Answers that say the request was not carried out (the service's 503 means it did nothing).
NOT_DONE_STATUSES = {503}
IDEMPOTENT_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


class ClientError(Exception):
    """The service answered with an error (``status``, ``code``, ``message``)."""

    def __init__(self, message: str, status: int | None = None, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Unauthorized(ClientError):
    """The API key (or version) was refused."""


class NotFoundError(ClientError):
    """The data set, image or order does not exist."""


class ServiceUnavailable(ClientError):
    """The service could not be reached, or answered 502/503/504, after every retry."""


class OutcomeUnknown(ServiceUnavailable):
    """A request that is not safe to repeat got no answer (or a 502/504): it may have been done."""


class OrderCancelled(ClientError):
    """:meth:`SensoryClient.large_batch` was cancelled through its ``cancel`` event."""


@dataclass(frozen=True)
class Collected:
    """Items collected from a batch order, and where the order stands after handing them out."""

    items: LabelledImages
    state: str
    delivered: int
    ready: int
    batch_size: int


def _b64(image: bytes | np.ndarray) -> str:
    data = encode_png(image) if isinstance(image, np.ndarray) else image
    return base64.b64encode(data).decode("ascii")


class SensoryClient:
    """Talks to one sensory service at ``base_url`` with ``api_key``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        api_version: str = "0.3.0",
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.api_version = api_version
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._session = requests.Session()
        self._session.headers.update({"API-ACCESS-KEY": api_key, "API-VERSION": api_version})

    @classmethod
    def from_config(cls, config, **kwargs: Any) -> SensoryClient:
        """A client for the service the configuration names (``[SENSORY_SERVICE]``)."""
        return cls(config.sensory_url, config.server.api_access_key, api_version=config.server.api_version, **kwargs)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SensoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Transport --------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """One request, repeated on transient failures when repeating it is safe.

        ``idempotent`` (default: by ``method``, so a POST is not) says whether the request may be
        repeated after a failure that leaves unknown whether the service carried it out.
        """
        url = f"{self.base_url}{path}"
        attempts = (self.retries if retries is None else retries) + 1
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        delays = Backoff(initial=self.backoff, cap=self.max_backoff)
        last: str = ""
        for attempt in range(attempts):
            try:
                response = self._session.request(method, url, json=json, params=params, timeout=timeout or self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"cannot reach {self.base_url}: {type(exc).__name__}"
                if not repeatable and not _never_sent(exc):
                    raise self._unknown(method, path, f"no answer ({type(exc).__name__})") from None
            else:
                if response.status_code not in TRANSIENT_STATUSES:
                    return self._checked(response)
                last = f"{response.status_code}: {self._message(response)}"
                if not repeatable and response.status_code not in NOT_DONE_STATUSES:
                    raise self._unknown(method, path, last)
            if attempt + 1 < attempts:
                time.sleep(delays.next())
        raise ServiceUnavailable(last, status=503, code="unavailable")

    def _unknown(self, method: str, path: str, what: str) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"{method} {self.base_url}{path}: {what}; not repeated, as it may have been carried out",
            status=503,
            code="outcome_unknown",
        )

    @staticmethod
    def _message(response: requests.Response) -> str:
        try:
            body = response.json()
            return str(body.get("message") or body.get("error") or body)
        except ValueError:
            return response.text[:200] or response.reason

    def _checked(self, response: requests.Response) -> requests.Response:
        if response.status_code < 400:
            return response
        try:
            code = str(response.json().get("error", "error"))
        except (ValueError, AttributeError):
            code = "error"
        message = f"{response.status_code}: {self._message(response)}"
        if response.status_code in (401, 403):
            raise Unauthorized(message, response.status_code, code)
        if response.status_code == 404:
            raise NotFoundError(message, response.status_code, code)
        raise ClientError(message, response.status_code, code)

    # The original protocol ----------------------------------------------------------------------
    def health(self) -> bool:
        """True when the service answers its health check (never raises)."""
        try:
            response = self._session.get(f"{self.base_url}/health/plain", timeout=min(self.timeout, 3.0))
            return response.status_code < 300 and response.text.strip() == "true"
        except requests.RequestException:
            return False

    def version(self) -> str:
        return self._call("GET", "/api/version").json()["version"]

    def category_map(self) -> dict[str, int]:
        return self._call("GET", "/api/sensory/category").json()["category_map"]

    def store(self, name: str, width: int, height: int, category: str, image: bytes | np.ndarray) -> None:
        """Store one image through the original route."""
        body = {"name": name, "width": width, "height": height, "category": category, "data": _b64(image)}
        self._call("POST", "/api/sensory/store", json=body, idempotent=True)  # stored once, by its pixels

    def request_batch(self, batch_size: int, noise: float = 0.0) -> tuple[list, list]:
        """The original inline batch: (one-hot labels, nested pixel lists)."""
        body = self._call(
            "POST",
            "/api/sensory/request",
            json={"batch_size": batch_size, "noise": noise},
            timeout=max(self.timeout, 120),
            idempotent=True,
        ).json()
        return body["labels"], body["data"]

    # The native API -----------------------------------------------------------------------------
    def datasets(self) -> dict:
        return self._call("GET", "/api/v1/datasets").json()

    def create_dataset(self, name: str, width: int, height: int, channels: int = 1) -> dict:
        body = {"name": name, "width": width, "height": height, "channels": channels}
        return self._call("POST", "/api/v1/datasets", json=body, idempotent=True).json()

    def dataset_info(self, dataset_id: str) -> dict:
        return self._call("GET", f"/api/v1/datasets/{dataset_id}").json()

    def ensure_dataset(self, dataset_id: str, channels: int = 1) -> dict:
        """The data set's info, created first from its id (``<name>_<width>x<height>``) if the
        service has none yet, as the original did on the first store."""
        try:
            return self.dataset_info(dataset_id)
        except NotFoundError:
            try:
                name, width, height = parse_dataset_id(dataset_id)
            except InvalidName as exc:
                raise ClientError(str(exc), 400, "invalid_name") from None
            self.create_dataset(name, width, height, channels=channels)
            return self.dataset_info(dataset_id)

    def add_category(self, dataset_id: str, name: str) -> bool:
        return self._call(
            "POST", f"/api/v1/datasets/{dataset_id}/categories", json={"name": name}, idempotent=True
        ).json()["created"]

    def delete_category(self, dataset_id: str, name: str) -> None:
        """Remove an empty category (409 while it holds images)."""
        # Not repeated after a lost answer: a repeat would find the category gone and answer 404.
        self._call("DELETE", f"/api/v1/datasets/{dataset_id}/categories/{quote(name, safe='')}", idempotent=False)

    def store_images(self, dataset_id: str, images: Iterable[tuple[bytes | np.ndarray, str]]) -> list[dict]:
        """Store many (image, category) pairs in one request; all or nothing."""
        body = {"images": [{"category": category, "data": _b64(image)} for image, category in images]}
        return self._call(
            "POST", f"/api/v1/datasets/{dataset_id}/images", json=body, timeout=max(self.timeout, 60), idempotent=True
        ).json()["stored"]

    def list_images(self, dataset_id: str, category: str | None = None, offset: int = 0, limit: int = 100) -> dict:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if category is not None:
            params["category"] = category
        return self._call("GET", f"/api/v1/datasets/{dataset_id}/images", params=params).json()

    def image_png(self, dataset_id: str, image_id: str) -> bytes:
        return self._call("GET", f"/api/v1/datasets/{dataset_id}/images/{image_id}").content

    def delete_images(self, dataset_id: str, ids: list[str]) -> int:
        # Not repeated after a lost answer: a repeat would find the images gone and answer 404.
        return self._call("POST", f"/api/v1/datasets/{dataset_id}/images/delete", json={"ids": ids}).json()["deleted"]

    def relabel_images(self, dataset_id: str, ids: list[str], category: str) -> int:
        body = {"ids": ids, "category": category}
        return self._call("POST", f"/api/v1/datasets/{dataset_id}/images/relabel", json=body, idempotent=True).json()[
            "relabelled"
        ]

    def batch(self, dataset_id: str, batch_size: int, noise: float = 0.0, seed: int | None = None) -> LabelledImages:
        """A random batch as uint8 arrays, in the binary form (fast)."""
        body: dict[str, Any] = {"batch_size": batch_size, "noise": noise}
        if seed is not None:
            body["seed"] = seed
        response = self._call(
            "POST", f"/api/v1/datasets/{dataset_id}/batch", json=body, timeout=max(self.timeout, 120), idempotent=True
        )
        return read_npz(response.content, response.headers.get("X-Dataset-Version", ""))

    def classify(self, image: bytes | np.ndarray):
        """Classify one image with the service's model (a :class:`dicebox.nets.inference.Classification`)."""
        from dicebox.nets.inference import Classification

        body = self._call("POST", "/api/v1/classify", json={"data": _b64(image)}, idempotent=True).json()
        return Classification(
            label=body["label"],
            index=body["index"],
            confidence=body["confidence"],
            probabilities=body["probabilities"],
            model_id=body["model_id"],
            seconds=body["seconds"],
        )

    def classify_compat(self, image: bytes | np.ndarray) -> int:
        """The original ``/api/classify``: the category index, -1 when no model is loaded."""
        return self._call("POST", "/api/classify", json={"data": _b64(image)}, idempotent=True).json()["classification"]

    def model(self) -> dict:
        return self._call("GET", "/api/v1/model").json()

    def load_model(self, bundle: str) -> dict:
        """Switch the served model to a bundle folder inside the service's weights folder."""
        return self._call(
            "POST", "/api/v1/model", json={"bundle": bundle}, timeout=max(self.timeout, 120), idempotent=True
        ).json()

    def arrays(self, dataset_id: str) -> LabelledImages:
        """The whole data set as uint8 arrays with its content version."""
        response = self._call("GET", f"/api/v1/datasets/{dataset_id}/arrays", timeout=max(self.timeout, 300))
        return read_npz(response.content, response.headers.get("X-Dataset-Version", ""))

    # Batch orders ------------------------------------------------------------------------------
    def place_order(self, dataset_id: str, batch_size: int, noise: float = 0.0, seed: int | None = None) -> str:
        """Order ``batch_size`` distinct images of ``dataset_id``; returns the order id.

        Not repeated once it may have reached the service (a repeat would place a second order):
        :class:`OutcomeUnknown` then; an order nobody collects expires by itself.
        """
        body: dict[str, Any] = {"batch_size": batch_size, "noise": noise}
        if seed is not None:
            body["seed"] = seed
        return self._call("POST", f"/api/v1/datasets/{dataset_id}/orders", json=body).json()["order_id"]

    def order_status(self, order_id: str) -> dict:
        """``{order_id, dataset, batch_size, ready, delivered, shards_total, shards_done, state, ...}``."""
        return self._call("GET", f"/api/v1/orders/{order_id}").json()

    def collect(self, order_id: str, max_items: int = 10_000, start: int | None = None, wait: float = 0.0) -> Collected:
        """Up to ``max_items`` items of an order in binary form (zero when none is ready in ``wait`` s).

        With ``start`` (the number of items already received) the call is safe to retry: the service
        hands out the same items again and frees only those before ``start``.
        """
        params: dict[str, Any] = {"max": max_items}
        if start is not None:
            params["start"] = start
        if wait:
            params["wait"] = wait
        response = self._call(
            "POST",
            f"/api/v1/orders/{order_id}/items",
            params=params,
            timeout=max(self.timeout, wait + 60),
            idempotent=start is not None,
        )
        headers = response.headers
        return Collected(
            items=read_npz(response.content, headers.get("X-Dataset-Version", "")),
            state=headers.get("X-Order-State", ""),
            delivered=int(headers.get("X-Order-Delivered", 0)),
            ready=int(headers.get("X-Order-Ready", 0)),
            batch_size=int(headers.get("X-Order-Batch-Size", 0)),
        )

    def cancel_order(self, order_id: str) -> None:
        """Cancel an order and free its items on the service."""
        self._call("DELETE", f"/api/v1/orders/{order_id}")

    def large_batch(
        self,
        dataset_id: str,
        batch_size: int,
        noise: float = 0.0,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        seed: int | None = None,
        chunk: int = 50_000,
        wait: float = 1.0,
    ) -> LabelledImages:
        """Place an order and collect it whole: exactly ``batch_size`` items, as uint8 arrays.

        Each collect asks for up to ``chunk`` items (the service also caps one answer at 64 MiB) and
        waits up to ``wait`` seconds for them. ``progress(received, batch_size)`` is called after
        every collect; setting ``cancel`` cancels the order and raises :class:`OrderCancelled`
        within about ``wait`` seconds. The order is deleted on the service afterwards, whatever
        happens.
        """
        order_id = self.place_order(dataset_id, batch_size, noise, seed)
        images = labels = None
        received = 0
        categories: tuple[str, ...] = ()
        version = ""
        try:
            while received < batch_size:
                if cancel is not None and cancel.is_set():
                    raise OrderCancelled(f"order {order_id} cancelled after {received} of {batch_size} items")
                got = self.collect(order_id, chunk, start=received, wait=wait).items
                if len(got) == batch_size:
                    images, labels = got.images, got.labels  # the whole order in one answer: no copy
                    received, categories, version = batch_size, got.categories, got.version
                elif len(got):
                    if images is None:
                        images = np.empty((batch_size, *got.images.shape[1:]), np.uint8)
                        labels = np.empty(batch_size, np.int64)
                    images[received : received + len(got)] = got.images
                    labels[received : received + len(got)] = got.labels
                    received += len(got)
                    categories, version = got.categories, got.version
                if progress is not None:
                    progress(received, batch_size)
        finally:
            try:
                self._call("DELETE", f"/api/v1/orders/{order_id}", retries=0)
            except ClientError:
                pass  # already gone, or the service is down: the order expires by itself
        return LabelledImages(images, labels, categories, version)

    def batch_order(self, batch_size: int, noise: float = 0.0) -> str:
        """The original ``/api/sensory/batch``: an order on the configured data set; returns its batch id."""
        return self._call("POST", "/api/sensory/batch", json={"batch_size": batch_size, "noise": noise}).json()[
            "batch_id"
        ]

    def poll(self, batch_id: str) -> tuple[list, list]:
        """The original ``/api/sensory/poll``: one item (one-hot label, pixel lists), or two empty lists."""
        body = self._call("POST", "/api/sensory/poll", json={"batch_id": batch_id}).json()
        return body["label"], body["data"]


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the service: no connection was ever made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)  # refused, or the name did not resolve
