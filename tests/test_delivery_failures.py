"""The spool keeps every frame the service did not definitely refuse, and delivers it once it can.

A small real HTTP service (Flask served by waitress) stands in for the sensory service, so each
test can script the answer a failing service gives: 500, 507 (disk full), a wrong key, a missing
route, a malformed answer, or a 400/409/413 about one frame.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter

import pytest
from flask import Flask, jsonify, request
from helpers import API_KEY, make_png

from dicebox.client.delivery import FrameDelivery
from dicebox.client.http import SensoryClient
from dicebox.service.server import ServiceServer

DATASET = "dice_60x50"


class ScriptedService:
    """Answers stores as ``answer(frames)`` says: ``None`` stores them (201), else ``(status, body)``."""

    def __init__(self) -> None:
        self.answer = lambda frames: None
        self.stored: Counter[bytes] = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        app = Flask("scripted")

        @app.post("/api/v1/datasets/<ident>/images")
        def store(ident: str):
            frames = [(base64.b64decode(item["data"]), item["category"]) for item in request.get_json()["images"]]
            with self._lock:
                self.requests += 1
                answer = self.answer(frames)
                if answer is None:
                    self.stored.update(png for png, _category in frames)
                    stored = [{"id": str(i), "category": c, "duplicate": False} for i, (_png, c) in enumerate(frames)]
                    return jsonify({"count": len(frames), "stored": stored}), 201
            status, body = answer
            return (jsonify(body) if isinstance(body, dict) else body), status

        @app.post("/api/v1/datasets")
        def create():
            return jsonify({"id": DATASET}), 201

        self.server = ServiceServer(app, "127.0.0.1", 0, threads=4).start()
        self.url = self.server.url


@pytest.fixture
def service():
    scripted = ScriptedService()
    yield scripted
    scripted.server.close()


@pytest.fixture
def delivery(service, tmp_path):
    frames = FrameDelivery(
        tmp_path / "spool", SensoryClient(service.url, API_KEY, retries=0, timeout=2), max_backoff=0.5
    )
    yield frames
    frames.close()


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def error(status: int, code: str, message: str):
    return status, {"error": code, "message": message}


FAILURES = {
    "internal error": error(500, "internal_error", "internal error: OperationalError"),
    "disk full": error(507, "insufficient_storage", "the disk holding /data is full"),
    "wrong key": error(401, "unauthorized", "missing or wrong API-ACCESS-KEY header"),
    "forbidden": error(403, "forbidden", "not allowed"),
    "route missing": (404, "<html>Not Found</html>"),
    "request timeout": error(408, "request_timeout", "too slow"),
    "too many requests": error(429, "too_many_requests", "slow down"),
    "bad gateway": (502, "<html>Bad Gateway</html>"),
    "proxy body limit": (413, "<html>413 Request Entity Too Large</html>"),
    "malformed answer": (200, "this is not JSON"),
    "wrong api version": error(400, "wrong_api_version", "API-VERSION header must be '0.3.0'"),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_frames_wait_through_a_failing_service_and_arrive_exactly_once(service, delivery, failure):
    service.answer = lambda frames: failure
    pngs = [make_png(i) for i in range(6)]
    for i, png in enumerate(pngs):
        delivery.submit(DATASET, str(i % 2), png)
    assert wait_for(lambda: service.requests >= 3), "delivery retries"
    state = delivery.state()
    assert state.pending == 6 and state.rejected == 0 and state.delivered == 0
    assert state.last_error, "the operator sees why frames wait"
    if isinstance(failure[1], dict):
        assert failure[1]["message"] in state.last_error
    service.answer = lambda frames: None  # the service recovers
    assert delivery.flush(timeout=15)
    assert service.stored == Counter(pngs), "each frame stored exactly once"
    state = delivery.state()
    assert (state.pending, state.delivered, state.rejected, state.last_error) == (0, 6, 0, "")


def test_disk_full_message_is_shown_while_frames_wait(service, delivery):
    service.answer = lambda frames: FAILURES["disk full"]
    delivery.submit(DATASET, "1", make_png(1))
    assert wait_for(lambda: "disk holding /data is full" in delivery.state().last_error)
    assert delivery.state().pending == 1


def test_retries_back_off_even_while_frames_keep_arriving(service, delivery):
    service.answer = lambda frames: FAILURES["internal error"]
    started = time.monotonic()
    for i in range(40):
        delivery.submit(DATASET, "1", make_png(i))
        time.sleep(0.04)
    elapsed = time.monotonic() - started
    # Backoff 0.2, 0.4, 0.5, 0.5 ... s: a handful of attempts, not one per recorded frame.
    assert service.requests <= 2 + elapsed / 0.2, f"{service.requests} attempts in {elapsed:.1f} s"
    assert len(delivery.spool) == 40 and delivery.state().rejected == 0


REFUSALS = {
    "invalid image": error(400, "invalid_image", "not a PNG or JPEG image"),
    "invalid category": error(400, "invalid_name", "invalid category 'CON'"),
    "image too large": error(413, "image_too_large", "image has too many pixels"),
    "conflict": error(409, "conflict", "this image is already stored under category '2'"),
}


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_frame_is_set_aside_alone(service, delivery, refusal):
    bad = make_png(99)
    # Like the real service: a request holding the bad frame is refused whole.
    service.answer = lambda frames: refusal if any(png == bad for png, _c in frames) else None
    good = [make_png(i) for i in range(5)]
    for png in good[:2] + [bad] + good[2:]:
        delivery.submit(DATASET, "1", png)
    assert delivery.flush(timeout=15)
    assert service.stored == Counter(good)
    state = delivery.state()
    assert (state.pending, state.delivered, state.rejected) == (0, 5, 1)
    assert refusal[1]["message"] in state.last_rejection
    (kept,) = (delivery.spool.folder / "rejected").iterdir()
    assert kept.read_bytes().endswith(bad), "the refused frame is kept for the operator"


def test_every_answer_about_a_frame_that_the_service_gives_is_a_refusal():
    from dicebox.client.delivery import FRAME_REFUSALS
    from dicebox.service.errors import STORE_ERRORS

    # A missing data set is created by the delivery; a batch size is not something a store sends.
    about_a_frame = {
        (status, code)
        for _cls, status, code in STORE_ERRORS
        if status < 500 and code not in ("not_found", "invalid_batch_size")
    }
    assert about_a_frame <= FRAME_REFUSALS
    assert all(400 <= status < 500 for status, _code in FRAME_REFUSALS), "a server error never refuses a frame"
