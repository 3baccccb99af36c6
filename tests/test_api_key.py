"""The API key as a user meets it: a blank key file, an empty header, a short or published key."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from dicebox.service import create_app, service_context
from dicebox.service.server import ServiceServer


def _env_without_a_key(home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICEBOX_") and k != "API_ACCESS_KEY"}
    return {**env, "DICEBOX_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _refused_start(data, env: dict[str, str]) -> str:
    """Run ``dicebox serve``; it must exit with status 2 before listening. Returns its stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicebox", "serve", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=data.parent,
    )
    try:
        first = proc.stdout.readline()
        if "listening on " in first:
            url = first.rsplit("listening on ", 1)[1].strip()
            answer = requests.get(f"{url}/api/v1/datasets", timeout=10)
            pytest.fail(f"the service started and answered {answer.status_code} to a request without a key")
        assert proc.wait(timeout=60) == 2
        return proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("content", ["", "  \n"])
def test_serve_refuses_a_blank_key_file_with_one_line_and_changes_nothing(tmp_path, content):
    data = tmp_path / "data"
    data.mkdir()
    (data / "api_key").write_text(content)
    stderr = _refused_start(data, _env_without_a_key(tmp_path / "home"))
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "api_key" in lines[0] and "empty" in lines[0], stderr
    assert (data / "api_key").read_text() == content
    assert sorted(p.name for p in data.iterdir()) == ["api_key"]


@pytest.fixture
def keyless_service(config):
    """A real server whose app was handed an empty key: nothing but the public routes may answer."""
    app = create_app(config.replace("server", api_access_key=""))
    server = ServiceServer(app, "127.0.0.1", 0, threads=2).start()
    yield server.url
    server.close()
    service_context(app).store.close()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"API-ACCESS-KEY": ""},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer  "},
        {"Authorization": "Bearer"},
    ],
)
def test_an_empty_key_never_opens_the_service(keyless_service, headers):
    for method, path in (("GET", "/api/v1/datasets"), ("POST", "/api/v1/datasets"), ("GET", "/api/sensory/category")):
        answer = requests.request(
            method,
            keyless_service + path,
            headers={**headers, "API-VERSION": "0.3.0"},
            json={"name": "open", "width": 8, "height": 8},
            timeout=10,
        )
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert answer.json()["error"] == "unauthorized" and answer.json()["message"]
    assert requests.get(keyless_service + "/api/v1/health", timeout=10).status_code == 200


def test_an_empty_presented_key_is_401_on_a_normal_service(live_service):
    url, _app = live_service
    for headers in ({"API-ACCESS-KEY": ""}, {"Authorization": "Bearer "}):
        answer = requests.get(f"{url}/api/v1/datasets", headers=headers, timeout=10)
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"


def _dicebox(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dicebox", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_short_key_is_a_warning_on_stderr(tmp_path):
    env = {**_env_without_a_key(tmp_path), "DICEBOX_API_ACCESS_KEY": "abc123"}
    started = time.monotonic()
    proc = _dicebox("config", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" in proc.stderr and "6 characters" in proc.stderr and "16" in proc.stderr, proc.stderr
    assert time.monotonic() - started < 60


def test_the_placeholder_of_the_docker_template_is_refused_with_one_line(tmp_path):
    env = {**_env_without_a_key(tmp_path), "DICEBOX_API_ACCESS_KEY": "replace-with-a-long-random-string"}
    stderr = _refused_start(tmp_path / "data", env)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "DICEBOX_API_ACCESS_KEY" in lines[0] and "published" in lines[0], stderr
    assert not (tmp_path / "data").exists(), "a refused start leaves nothing behind"
