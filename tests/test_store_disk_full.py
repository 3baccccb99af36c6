"""A full disk: stores are refused with 507 and change nothing, acknowledged images stay readable,
and the service starts with images waiting to be written and writes them once space returns.

The disk is a real one: a small tmpfs (mounting it needs root, as on CI), filled with a file that
the test deletes to free space again.
"""

from __future__ import annotations

import base64
import errno
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from helpers import API_KEY, make_png
from service_process import start_service, stop_service

from dicebox.service import service_context
from dicebox.store import DatasetStore
from dicebox.store.images import pixel_id

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}
IDENT = "dice_60x50"


class SmallDisk:
    """A mounted tmpfs that :meth:`fill` fills to the last byte and :meth:`free` empties again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for block in (1 << 16, 4096, 1):
                try:
                    while True:
                        os.write(fd, bytes(block))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def small_disk(tmp_path):
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def env(small_disk):
    """The service's data folder (``live_service``, ``app``) on the small disk."""
    return {"DICEBOX_HOME": str(small_disk.path / "home"), "DICEBOX_API_ACCESS_KEY": API_KEY}


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()


def _store(url: str, seed: int, category: str) -> requests.Response:
    body = {"images": [{"category": category, "data": _b64(make_png(seed))}]}
    return requests.post(f"{url}/api/v1/datasets/{IDENT}/images", json=body, headers=HEADERS, timeout=30)


def _compat_store(url: str, seed: int, category: str, name: str = "dice") -> requests.Response:
    body = {"name": name, "width": 60, "height": 50, "category": category, "data": _b64(make_png(seed))}
    return requests.post(f"{url}/api/sensory/store", json=body, headers=HEADERS, timeout=30)


def _image_id(seed: int) -> str:
    return pixel_id(cv2.imdecode(np.frombuffer(make_png(seed), np.uint8), cv2.IMREAD_UNCHANGED)[:, :, None])


def _assert_same_pixels(png: bytes, seed: int) -> None:
    got = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(got, cv2.imdecode(np.frombuffer(make_png(seed), np.uint8), cv2.IMREAD_UNCHANGED))


def _pending(index: Path) -> int:
    db = sqlite3.connect(index, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
    finally:
        db.close()


def _leave_room_in_the_log_only(index: Path) -> None:
    """Checkpoint so that the next commits reuse the write-ahead log from its start: once the
    disk is full, commits still fit (as after any checkpoint) while new files do not."""
    db = sqlite3.connect(index, timeout=30)
    try:
        busy, _log, _done = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        assert busy == 0
    finally:
        db.close()


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_stores_on_a_full_disk_answer_507_and_change_nothing(small_disk, live_service):
    url, app = live_service
    folder = service_context(app).config.datasets_dir / IDENT
    assert _store(url, 0, "1").status_code == 201
    before = requests.get(f"{url}/api/v1/datasets/{IDENT}", headers=HEADERS, timeout=10).json()
    small_disk.fill()

    refused = [_store(url, 1, "1"), _store(url, 2, "new"), _compat_store(url, 3, "1"), _compat_store(url, 4, "other")]
    for answer in refused:
        assert answer.status_code == 507, answer.text
        body = answer.json()
        assert body["error"] == "insufficient_storage"
        assert "disk is full" in body["message"] and str(folder) in body["message"]
    fresh = _compat_store(url, 5, "1", name="fresh")
    assert fresh.status_code == 507 and "disk is full" in fresh.json()["message"], fresh.text
    after = requests.get(f"{url}/api/v1/datasets/{IDENT}", headers=HEADERS, timeout=10).json()
    assert after == before
    assert sorted(p.name for p in (folder / "data").iterdir()) == ["1"]
    assert requests.get(f"{url}/api/v1/datasets", headers=HEADERS, timeout=10).json()["datasets"] == [IDENT]
    assert sorted(p.name for p in folder.parent.iterdir()) == [IDENT]

    small_disk.free()
    assert _store(url, 2, "new").status_code == 201
    assert requests.get(f"{url}/api/v1/datasets/{IDENT}", headers=HEADERS, timeout=10).json()["count"] == 2


def test_a_large_batch_refused_on_a_full_disk_says_so(small_disk):
    """Big enough that SQLite spills to disk mid-transaction and ends the transaction itself."""
    from dicebox.store import DiskFull

    store = DatasetStore(small_disk.path / "datasets")
    try:
        dataset = store.dataset(IDENT)
        dataset.store(make_png(0), "1")
        dataset.flush()
        small_disk.fill()
        with pytest.raises(DiskFull, match="disk is full"):
            dataset.store_many([(make_png(seed), "1") for seed in range(1, 1200)])
        assert dataset.count() == 1
        small_disk.free()
        assert len(dataset.store_many([(make_png(seed), "1") for seed in range(1, 50)])) == 49
    finally:
        store.close()


def test_images_acknowledged_on_a_full_disk_are_served_and_written_once_space_returns(small_disk, live_service):
    url, app = live_service
    dataset = service_context(app).store.dataset(IDENT)
    for seed in range(30):
        assert _store(url, seed, str(seed % 2)).status_code == 201
    assert _wait_until(lambda: dataset.index.pending_count() == 0, 10)
    _leave_room_in_the_log_only(dataset.index.path)
    small_disk.fill()

    late = {100: "0", 101: "0", 102: "late"}
    for seed, category in late.items():
        answer = _store(url, seed, category)
        assert answer.status_code == 201, answer.text
    time.sleep(0.5)  # the writer has tried, and failed, to write their files
    assert dataset.index.pending_count() == 3
    for seed, category in late.items():
        assert not (dataset.data_dir / category / f"{_image_id(seed)}.png").exists()
        answer = requests.get(f"{url}/api/v1/datasets/{IDENT}/images/{_image_id(seed)}", headers=HEADERS, timeout=10)
        assert answer.status_code == 200, answer.text
        _assert_same_pixels(answer.content, seed)
    info = requests.get(f"{url}/api/v1/datasets/{IDENT}", headers=HEADERS, timeout=10).json()
    assert info["count"] == 33 and info["category_map"] == {"0": 0, "1": 1, "late": 2}
    batch = requests.post(
        f"{url}/api/sensory/request", json={"batch_size": 33, "noise": 0}, headers=HEADERS, timeout=30
    )
    assert batch.status_code == 200 and len(batch.json()["labels"]) == 33

    small_disk.free()
    assert _wait_until(lambda: dataset.index.pending_count() == 0, 15)
    for seed, category in late.items():
        _assert_same_pixels((dataset.data_dir / category / f"{_image_id(seed)}.png").read_bytes(), seed)


def test_the_writer_waits_longer_between_attempts_and_warns_once_while_the_disk_is_full(small_disk, caplog):
    store = DatasetStore(small_disk.path / "datasets")
    try:
        dataset = store.dataset(IDENT)
        for seed in range(30):
            dataset.store(make_png(seed), "1")
        dataset.flush()
        _leave_room_in_the_log_only(dataset.index.path)
        small_disk.fill()
        attempts = []
        pending = dataset.index.pending

        def counted(limit):
            attempts.append(time.monotonic())
            return pending(limit)

        dataset.index.pending = counted
        with caplog.at_level(logging.INFO, logger="dicebox"):
            dataset.store(make_png(100), "1")
            time.sleep(4)
        gaps = np.diff(attempts)
        assert 2 <= len(attempts) <= 5 and all(np.diff(gaps) > 0), attempts
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        assert "disk is full" in caplog.records[0].getMessage()
        small_disk.free()
        assert _wait_until(lambda: dataset.index.pending_count() == 0, 10)
    finally:
        store.close()


def _start(data_dir: Path) -> tuple[subprocess.Popen, str, list[str]]:
    """``dicebox serve`` on ``data_dir``: (process, URL, the lines it printed before listening)."""
    lines: list[str] = []
    proc, url = start_service(data_dir, printed=lines)
    return proc, url, lines


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _acknowledge_while_full(disk: SmallDisk, url: str, index: Path, seeds: list[int]) -> None:
    """Fill a service's disk after 30 stores; then store ``seeds``, which only the index holds."""
    for seed in range(30):
        assert _compat_store(url, seed, str(seed % 2)).status_code == 200
    assert _wait_until(lambda: _pending(index) == 0, 10)
    _leave_room_in_the_log_only(index)
    disk.fill()
    for seed in seeds:
        assert _compat_store(url, seed, "1").status_code == 200


def _get_image(url: str, seed: int) -> requests.Response:
    return requests.get(f"{url}/api/v1/datasets/{IDENT}/images/{_image_id(seed)}", headers=HEADERS, timeout=10)


def test_serve_restarted_after_a_crash_on_a_full_disk_starts_serves_and_catches_up(small_disk):
    data_dir = small_disk.path / "data"
    index = data_dir / "datasets" / IDENT / "index.sqlite3"
    waiting = [100, 101, 102]
    first, url, _lines = _start(data_dir)
    try:
        _acknowledge_while_full(small_disk, url, index, waiting)
    finally:
        first.kill()
        first.wait()
        first.stdout.close()

    # (No look at the index in between: the last connection to close would checkpoint its log
    # and give its space back.)
    second, url, lines = _start(data_dir)
    try:
        assert _pending(index) == 3
        warnings = [line for line in lines if "disk is full" in line]
        assert len(warnings) == 1 and "WARNING" in warnings[0], "".join(lines)
        for seed in waiting:
            answer = _get_image(url, seed)
            assert answer.status_code == 200, answer.text
            _assert_same_pixels(answer.content, seed)
        assert requests.get(f"{url}/api/v1/datasets/{IDENT}", headers=HEADERS, timeout=10).json()["count"] == 33
        cpu = _cpu_seconds(second.pid)
        time.sleep(3)
        assert _cpu_seconds(second.pid) - cpu < 0.3  # waiting for space, not spinning
        assert _pending(index) == 3

        small_disk.free()
        assert _wait_until(lambda: _pending(index) == 0, 20)
        for seed in waiting:
            _assert_same_pixels((index.parent / "data" / "1" / f"{_image_id(seed)}.png").read_bytes(), seed)
    finally:
        stop_service(second)
    assert second.returncode == 0


def test_serve_stopped_and_started_on_a_full_disk_loses_nothing(small_disk):
    data_dir = small_disk.path / "data"
    index = data_dir / "datasets" / IDENT / "index.sqlite3"
    waiting = [100, 101, 102]
    first, url, _lines = _start(data_dir)
    try:
        _acknowledge_while_full(small_disk, url, index, waiting)
    finally:
        first.terminate()
        first.wait(timeout=30)
        said = first.stdout.read()
        first.stdout.close()
    assert first.returncode == 0 and "Traceback" not in said, said
    assert "3 acknowledged images of dice_60x50 stay in its index" in said
    assert _pending(index) == 3

    # Closing the index may have given space back (its log); whatever did, it is taken again, so
    # that the next start may not even find room to open the index.
    small_disk.fill()
    second, url, _lines = _start(data_dir)
    try:
        assert requests.get(f"{url}/health/plain", timeout=10).status_code == 200
        for seed in waiting:
            answer = _get_image(url, seed)
            assert answer.status_code in (200, 507), answer.text
            if answer.status_code == 507:
                assert answer.json()["error"] == "insufficient_storage"
        small_disk.free()
        for seed in waiting:
            answer = _get_image(url, seed)
            assert answer.status_code == 200, answer.text
            _assert_same_pixels(answer.content, seed)
        assert _wait_until(lambda: _pending(index) == 0, 20)
        assert requests.get(f"{url}/api/v1/datasets/{IDENT}", headers=HEADERS, timeout=10).json()["count"] == 33
    finally:
        stop_service(second)
    assert second.returncode == 0
