"""Installs that fit the machine: the roles' extras in the package metadata, their requirement files,
and each role's commands in processes where the libraries that role leaves out cannot be imported.

(Building a real virtualenv per role is benchmarks/measure_installs.py: too heavy for the tests.)
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from helpers import API_KEY
from packaging.requirements import Requirement
from service_process import start_service, stop_service

from dicebox.service import service_context

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("station", "server", "trainer", "gpu")
TENSORFLOW = {"tensorflow", "tensorflow-cpu", "keras"}
# What each role must not bring (distribution names, lower case), and the modules it therefore lacks.
LEFT_OUT = {
    "station": TENSORFLOW | {"flask", "waitress", "pika", "matplotlib"},
    "server": TENSORFLOW | {"pyqt5", "matplotlib"},
    "trainer": {"pyqt5", "flask", "waitress", "matplotlib"},
    "gpu": {"pyqt5", "flask", "waitress", "matplotlib", "tensorflow-cpu"},
}
STATION_BLOCKS = ("tensorflow", "keras", "flask", "werkzeug", "waitress", "pika", "matplotlib")
SERVER_BLOCKS = ("tensorflow", "keras", "PyQt5", "matplotlib")


def requirements(extra: str | None, environment: dict | None = None) -> dict[str, Requirement]:
    """The installed dicebox's requirements for ``extra`` (None: the base install) on a platform."""
    found = {}
    for line in importlib.metadata.requires("dicebox") or []:
        requirement = Requirement(line)
        of_an_extra = requirement.marker is not None and "extra ==" in str(requirement.marker)
        if of_an_extra != (extra is not None):
            continue
        marker_env = {"extra": extra or "", **(environment or {})}
        if requirement.marker is None or requirement.marker.evaluate(marker_env):
            found[requirement.name.lower()] = requirement
    return found


def blocking_env(folder: Path, modules: tuple[str, ...], **extra: str) -> dict[str, str]:
    """An environment whose Pythons cannot import ``modules`` (as if the role had not installed them)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in modules)
    )
    path = os.pathsep.join([str(folder), str(ROOT)])
    return {**os.environ, "PYTHONPATH": path, "DICEBOX_API_ACCESS_KEY": API_KEY, **extra}


def test_the_metadata_offers_every_role_and_all_and_test():
    extras = set(importlib.metadata.metadata("dicebox").get_all("Provides-Extra") or [])
    assert {"station", "server", "trainer", "gpu", "all", "test"} <= extras, extras


def test_the_base_install_has_what_the_demo_needs_and_all_adds_the_light_runtimes():
    base = requirements(None)
    assert {"pyqt5", "matplotlib", "flask", "waitress", "pika", "opencv-python-headless", "numpy"} <= set(base)
    assert "tensorflow-cpu" in base  # Linux x86-64 here: the CPU wheel
    mac = requirements(None, {"sys_platform": "darwin", "platform_machine": "arm64"})
    assert "tensorflow" in mac and "tensorflow-cpu" not in mac
    assert {"onnxruntime", "ai-edge-litert", "onnx"} <= set(requirements("all"))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_leaves_out_what_its_machine_does_not_need(role):
    for environment in ({}, {"sys_platform": "win32", "platform_machine": "AMD64"}, {"sys_platform": "darwin"}):
        listed = set(requirements(role, environment))
        assert {"numpy", "opencv-python-headless", "requests"} <= listed, (role, environment)
        assert not listed & LEFT_OUT[role], (role, environment, listed & LEFT_OUT[role])


def test_the_gpu_role_is_tensorflow_with_cuda_and_the_trainer_the_cpu_wheel():
    gpu = requirements("gpu")
    assert gpu["tensorflow"].extras == {"and-cuda"} and "tensorflow-cpu" not in gpu
    assert "tensorflow-cpu" in requirements("trainer")
    assert "onnxruntime" in requirements("station") and "onnxruntime" in requirements("server")
    assert "swagger-ui-bundle" in requirements("server")


def test_the_requirement_files_are_written_from_pyproject():
    check = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "roles.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
    for role in ROLES:
        text = (ROOT / "requirements" / f"{role}.txt").read_text()
        listed = [Requirement(line) for line in text.splitlines() if line and line[0] != "#"]
        assert all(f'extra == "{role}"' not in str(r.marker) for r in listed)  # usable by pip -r as they are
        # On this machine the file installs exactly what the installed metadata gives the role.
        here = {r.name.lower() for r in listed if r.marker is None or r.marker.evaluate()}
        assert here == set(requirements(role)), role


def test_a_server_serves_stores_and_shows_its_docs_without_qt_matplotlib_or_tensorflow(tmp_path):
    env = blocking_env(tmp_path / "site", SERVER_BLOCKS)
    proc, url = start_service(tmp_path / "data", env=env)
    try:
        assert requests.get(url + "/health/plain", timeout=10).text.strip() == "true"
        for name in ("/api/v1/docs", "/api/v1/docs/swagger-ui-bundle.js"):
            assert requests.get(url + name, timeout=10).status_code == 200, name
        created = requests.post(
            url + "/api/v1/datasets",
            json={"name": "roles", "width": 60, "height": 50},
            headers={"API-ACCESS-KEY": API_KEY},
            timeout=10,
        )
        assert created.status_code in (200, 201), created.text
    finally:
        stop_service(proc)
    assert proc.returncode == 0


STATION_RECORDS = """
import os, sys
from pathlib import Path
from dicebox.camera.synthetic import SyntheticDiceSource
from dicebox.client.http import SensoryClient
from dicebox.client.delivery import FrameDelivery
import cv2

url, spool, API_KEY = sys.argv[1], Path(sys.argv[2]), os.environ["DICEBOX_API_ACCESS_KEY"]
source = SyntheticDiceSource(seed=3, width=120, height=100)
delivery = FrameDelivery(spool, SensoryClient(url, API_KEY))
for seq in range(12):
    frame = cv2.cvtColor(cv2.resize(source.render(seq), (60, 50)), cv2.COLOR_BGR2GRAY)
    delivery.submit("station_60x50", f"face{seq % 2 + 1}", frame)
assert delivery.flush(30), delivery.state()
delivery.close()
print(sorted(m for m in ("tensorflow", "keras", "flask", "pika", "matplotlib") if sys.modules.get(m)))
"""


def test_a_recording_station_opens_the_window_and_records_without_tensorflow_or_the_service(tmp_path, live_service):
    env = blocking_env(tmp_path / "site", STATION_BLOCKS, QT_QPA_PLATFORM="offscreen", DICEBOX_HOME=str(tmp_path))
    shown = subprocess.run(
        [sys.executable, "-m", "dicebox", "gui", "--fresh", "--smoke-test", "--data-dir", str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert shown.returncode == 0 and "window shown" in shown.stdout, shown.stdout + shown.stderr
    url, app = live_service
    recorded = subprocess.run(
        [sys.executable, "-c", STATION_RECORDS, url, str(tmp_path / "spool")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.strip() == "[]"
    counts = service_context(app).store.dataset("station_60x50", create=False).counts()
    assert counts == {"face1": 6, "face2": 6}


@pytest.mark.parametrize(
    ("command", "blocked", "role"),
    [
        (["gui", "--fresh"], ("PyQt5",), "station"),
        (["serve", "--port", "0"], ("flask", "werkzeug", "waitress"), "server"),
        (["train", "--dataset", "roles_60x50", "--out", "model", "--epochs", "1"], ("tensorflow", "keras"), "trainer"),
    ],
)
def test_a_command_whose_library_the_role_leaves_out_says_what_to_install(tmp_path, command, blocked, role):
    env = blocking_env(tmp_path / "site", blocked, QT_QPA_PLATFORM="offscreen")
    data = tmp_path / "data"
    if role == "trainer":  # a data set to train on, so the command gets as far as TensorFlow
        from helpers import make_png

        from dicebox.store import DatasetStore

        store = DatasetStore(data / "datasets")
        store.store_many("roles_60x50", [(make_png(i), str(i % 2)) for i in range(8)])
        store.close()
    ran = subprocess.run(
        [sys.executable, "-m", "dicebox", command[0], "--data-dir", str(data), *command[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("dicebox: error:")]
    assert len(errors) == 1 and errors[0] == ran.stderr.strip().splitlines()[-1], ran.stderr
    assert errors[0].startswith(f"dicebox: error: dicebox {command[0]} needs ")
    assert f"pip install -r requirements/{role}.txt" in errors[0]
