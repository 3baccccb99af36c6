"""The server image and the example stack are well formed (no Docker engine needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip())
            for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)]


def test_dockerfile_runs_the_service_unprivileged_with_a_health_check():
    instructions = dockerfile_instructions()
    froms = [args for kind, args in instructions if kind == "FROM"]
    assert froms and all(args.split()[0] == "python:3.11-slim" for args in froms)
    users = [args for kind, args in instructions if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    (health,) = [args for kind, args in instructions if kind == "HEALTHCHECK"]
    command = json.loads(health.split("CMD", 1)[1])
    assert "/health/plain" in " ".join(command)
    entrypoint = json.loads(dict(instructions)["ENTRYPOINT"])
    cmd = json.loads([args for kind, args in instructions if kind == "CMD"][-1])
    assert entrypoint == ["dicebox"]
    assert cmd[:1] == ["serve"] and "--data-dir" in cmd and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert any(kind == "VOLUME" and "/data" in args for kind, args in instructions)


def test_dockerignore_lets_in_what_pip_install_needs():
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    for needed in ("setup.py", "pyproject.toml", "README.md", "dicebox/", "gui/", "camera/", "assets/",
                   "packaging/docker/", "requirements/"):
        assert f"!{needed}" in rules


def test_compose_stack_shares_data_and_broker():
    yaml = pytest.importorskip("yaml")
    stack = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = stack["services"]
    assert services["rabbitmq"]["image"].endswith("-management")
    commands = {name: service["command"][0] for name, service in services.items() if "command" in service}
    assert commands == {"sensory": "serve", "sensory-replica": "serve", "batch-processor": "batch-processor",
                        "worker": "worker"}
    for name in commands:
        service = services[name]
        assert "dicebox-data:/data" in service["volumes"]
        assert service["environment"]["DICEBOX_BROKER_URL"].startswith("amqp://")
        assert "DICEBOX_API_ACCESS_KEY" in service["environment"]
    assert services["batch-processor"]["deploy"]["replicas"] >= 1
    assert set(stack["volumes"]) >= {"dicebox-data"}


def test_the_image_installs_the_server_and_trainer_roles_pinned():
    (build,) = [args for kind, args in dockerfile_instructions() if kind == "RUN" and "pip install" in args]
    assert "pip install --no-deps ." in build
    assert "-c requirements/constraints.txt -r requirements/server.txt -r requirements/trainer.txt" in build
    for role in ("server", "trainer"):
        text = (ROOT / "requirements" / f"{role}.txt").read_text(encoding="utf-8").lower()
        listed = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert listed and not [line for line in listed if line.startswith(("pyqt5", "matplotlib"))]
