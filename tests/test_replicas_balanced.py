"""Three replicas on one data folder behind a real HAProxy (round robin, no stickiness), updated one
after another while clients store images and collect batch orders through the balancer.

The bound: clients retry only what is safe to retry (stores, which are idempotent by content; a
collect from an explicit ``start``; anything HAProxy answers 503 "no server" without forwarding),
and apart from those retries they see no error: 0 failed requests, 0 acknowledged images lost,
0 duplicates, every order complete with distinct stored images.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from helpers import API_KEY, make_png
from service_process import start_service, stop_service

from dicebox.images import read_npz

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}
DATASET = "dice_60x50"
REPLICAS = 3
# A request a client may repeat: HAProxy had no server for it (nothing was forwarded).
RETRY_STATUSES = {503}

HAPROXY_CONFIG = """
global
    maxconn 512
    tune.bufsize 131072
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    option http-server-close
    retries 3
    option redispatch 1
    option http-buffer-request
    retry-on conn-failure empty-response
frontend dicebox
    bind 127.0.0.1:{front}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /api/v1/health
    default-server inter 200ms fall 1 rise 1
{servers}
"""


def start_replica(data, port: int, env: dict, log: list[str], *extra: str) -> subprocess.Popen:
    """A replica whose output is read all along (a full pipe would block it) into ``log``."""
    proc, _url = start_service(data, "--port", str(port), *extra, env=env, printed=log)
    threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True).start()
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pixels(i: int) -> bytes:
    return cv2.imdecode(np.frombuffer(make_png(i), np.uint8), cv2.IMREAD_UNCHANGED).tobytes()


@pytest.fixture
def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if found is None:
        message = "HAProxy is not installed: apt-get install -y haproxy"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


class Load:
    """Clients working through the balancer until stopped; they count what they saw."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.next_image = 1000
        self.acknowledged: set[int] = set()
        self.known: dict[bytes, int] = {}  # pixels of the acknowledged images
        self.delivered: list[bytes] = []  # every item orders handed out
        self.retries = 0
        self.failures: list[str] = []
        self.orders = 0
        self.polled_batches = 0
        self.session = threading.local()

    def _http(self) -> requests.Session:
        if not hasattr(self.session, "s"):
            self.session.s = requests.Session()
            self.session.s.headers.update(HEADERS)
        return self.session.s

    def call(self, method: str, path: str, *, retry_any: bool = False, **kwargs) -> requests.Response | None:
        """One request; repeated while HAProxy had no server (or on any failure when ``retry_any``)."""
        for _attempt in range(100):
            try:
                answer = self._http().request(method, self.url + path, timeout=30, **kwargs)
            except requests.RequestException as exc:
                if not retry_any:
                    self.fail(f"{method} {path}: {exc}")
                    return None
                answer = None
            if answer is not None and answer.status_code < 500:
                return answer
            if answer is not None and answer.status_code not in RETRY_STATUSES and not retry_any:
                self.fail(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
                return None
            with self.lock:
                self.retries += 1
            time.sleep(0.05)
        self.fail(f"{method} {path}: no answer after 100 attempts")
        return None

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)

    def store(self, i: int) -> bool:
        body = {
            "name": "dice",
            "width": 60,
            "height": 50,
            "category": str(i % 3),
            "data": base64.b64encode(make_png(i)).decode(),
        }
        answer = self.call("POST", "/api/sensory/store", json=body, retry_any=True)  # idempotent by content
        if answer is None:
            return False
        if answer.status_code != 200:
            self.fail(f"store {i}: {answer.status_code} {answer.text[:200]}")
            return False
        with self.lock:
            self.acknowledged.add(i)
            self.known[pixels(i)] = i
        return True

    def storer(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                i, self.next_image = self.next_image, self.next_image + 1
            self.store(i)

    def orderer(self) -> None:
        while not self.stop.is_set():
            placed = self.call("POST", f"/api/v1/datasets/{DATASET}/orders", json={"batch_size": 12, "noise": 0})
            if placed is None or placed.status_code != 202:
                self.fail(f"place: {None if placed is None else (placed.status_code, placed.text[:200])}")
                continue
            order_id = placed.json()["order_id"]
            got: list[bytes] = []
            while len(got) < 12:
                answer = self.call(
                    "POST", f"/api/v1/orders/{order_id}/items?start={len(got)}&max=5&wait=2", retry_any=True
                )  # the same start gives the same items
                if answer is None or answer.status_code != 200:
                    self.fail(
                        f"collect {order_id}: {None if answer is None else (answer.status_code, answer.text[:200])}"
                    )
                    return
                got.extend(image.tobytes() for image in read_npz(answer.content).images)
            if len(set(got)) != 12 or len(got) != 12:
                self.fail(f"order {order_id}: {len(got)} items, {len(set(got))} distinct")
            with self.lock:
                self.delivered.extend(got)
            self.call("DELETE", f"/api/v1/orders/{order_id}", retry_any=True)
            with self.lock:
                self.orders += 1

    def poller(self) -> None:
        """The original protocol: place with /api/sensory/batch, take one item per /api/sensory/poll."""
        while not self.stop.is_set():
            placed = self.call("POST", "/api/sensory/batch", json={"batch_size": 6, "noise": 0})
            if placed is None or placed.status_code != 200:
                self.fail(f"compat batch: {None if placed is None else (placed.status_code, placed.text[:200])}")
                continue
            batch_id = placed.json()["batch_id"]
            items: list[str] = []
            deadline = time.monotonic() + 30
            while len(items) < 6 and time.monotonic() < deadline:
                # Not idempotent: repeated only when HAProxy forwarded nothing (503).
                answer = self.call("POST", "/api/sensory/poll", json={"batch_id": batch_id})
                if answer is None or answer.status_code != 200:
                    self.fail(f"poll {batch_id}: {None if answer is None else (answer.status_code, answer.text[:200])}")
                    return
                if answer.json()["data"]:
                    items.append(str(answer.json()["data"]))
                    with self.lock:
                        self.delivered.append(np.array(answer.json()["data"], np.uint8).tobytes())
                else:
                    time.sleep(0.05)
            if len(items) != 6 or len(set(items)) != 6:
                self.fail(f"compat batch {batch_id}: {len(items)} items, {len(set(items))} distinct")
            with self.lock:
                self.polled_batches += 1


@pytest.mark.parametrize("index", ["in the data folder", "local to each replica"])
def test_rolling_update_behind_haproxy_loses_nothing(tmp_path, haproxy_binary, index):
    """``local to each replica``: each replica keeps its index in a folder of its own (``--index-dir``),
    as replicas on several machines sharing the data folder over NFS do."""
    started = time.monotonic()
    data = tmp_path / "data"
    data.mkdir()
    ports = [free_port() for _ in range(REPLICAS)]
    front = free_port()
    env = {"DICEBOX_SHARD_SIZE": "4", "DICEBOX_BROKER_URL": ""}
    output: list[str] = []
    extra = [
        ("--index-dir", str(tmp_path / f"index-{n}")) if index.startswith("local") else () for n in range(REPLICAS)
    ]
    replicas = [start_replica(data, port, env, output, *extra[n]) for n, port in enumerate(ports)]
    config = tmp_path / "haproxy.cfg"
    servers = "\n".join(f"    server r{n} 127.0.0.1:{port} check" for n, port in enumerate(ports))
    config.write_text(HAPROXY_CONFIG.format(front=front, servers=servers))
    balancer = subprocess.Popen(
        [haproxy_binary, "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{front}"
    load = Load(url)
    threads: list[threading.Thread] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and balancer.poll() is None, "HAProxy did not come up"
            time.sleep(0.1)
        for i in range(30):
            assert load.store(i)
        threads = [
            threading.Thread(target=target, daemon=True)
            for target in (load.storer, load.storer, load.orderer, load.poller)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        # The rolling update: each replica in turn is stopped (SIGTERM, as docker does) and replaced.
        for n, port in enumerate(ports):
            replicas[n].send_signal(signal.SIGTERM)
            try:
                code = replicas[n].wait(timeout=30)
            except subprocess.TimeoutExpired:
                code = "still running"
            assert code == 0, f"replica {n} did not drain and exit cleanly ({code}):\n" + "".join(output[-40:])
            replicas[n] = start_replica(data, port, env, output, *extra[n])
            time.sleep(1.0)
        time.sleep(1.0)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a client is stuck"
        assert load.failures == [], load.failures[:10]
        assert load.orders >= 3 and load.polled_batches >= 3, (load.orders, load.polled_batches)

        # Nothing lost, nothing twice: the data set holds exactly the acknowledged images, on every
        # replica (one with a local index within a moment).
        for port in ports:
            deadline = time.monotonic() + 2
            while True:
                direct = requests.get(f"http://127.0.0.1:{port}/api/v1/datasets/{DATASET}", headers=HEADERS, timeout=10)
                if direct.json()["count"] == len(load.acknowledged) or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert direct.json()["count"] == len(load.acknowledged), (port, direct.json()["count"])
        info = requests.get(f"{url}/api/v1/datasets/{DATASET}", headers=HEADERS, timeout=10).json()
        assert info["count"] == len(load.acknowledged), (info["count"], len(load.acknowledged))
        placed = requests.post(
            f"{url}/api/v1/datasets/{DATASET}/orders",
            headers=HEADERS,
            json={"batch_size": info["count"], "noise": 0},
            timeout=30,
        ).json()
        everything: list[bytes] = []
        while len(everything) < info["count"]:
            answer = requests.post(
                f"{url}/api/v1/orders/{placed['order_id']}/items?start={len(everything)}&max=1000&wait=5",
                headers=HEADERS,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            everything.extend(image.tobytes() for image in read_npz(answer.content).images)
        assert sorted(everything) == sorted(load.known)
        strangers = [item for item in load.delivered if item not in load.known]
        assert not strangers, f"{len(strangers)} items delivered by orders are no acknowledged image"
        print(
            f"\nrolling update: {len(load.acknowledged)} images stored, {load.orders} orders and "
            f"{load.polled_batches} compat batches collected, {load.retries} client retries, 0 failures, "
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=10)
        balancer.terminate()
        balancer.wait(timeout=10)
        for proc in replicas:
            stop_service(proc)


def test_the_compose_replicas_profile_runs_haproxy_with_a_valid_round_robin_config(haproxy_binary):
    yaml = pytest.importorskip("yaml")
    root = Path(__file__).resolve().parents[1]
    services = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    replica, balancer = services["sensory-replica"], services["balancer"]
    assert replica["profiles"] == balancer["profiles"] == ["replicas"]
    assert replica["command"][0] == "serve" and "dicebox-data:/data" in replica["volumes"]
    index_dir = replica["command"][replica["command"].index("--index-dir") + 1]
    assert not index_dir.startswith("/data"), "each replica's index on its own disk, not on the shared volume"
    assert replica["stop_grace_period"] == "30s", "longer than the 15 s drain"
    config = root / "packaging" / "docker" / "haproxy.cfg"
    assert any(volume.startswith(f"./{config.relative_to(root)}:") for volume in balancer["volumes"])
    settings = [line.split("#")[0].strip() for line in config.read_text().splitlines()]
    assert "balance roundrobin" in settings
    assert not [line for line in settings if line.startswith(("cookie", "stick", "balance source"))]
    checked = subprocess.run([haproxy_binary, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
