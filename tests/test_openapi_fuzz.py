"""schemathesis with all its checks against /api/v1/openapi.json, over real HTTP: no server error,
and every answer (status, headers, body) is one the document describes; what the document allows is
accepted and what it forbids is refused; the OPTIONS and 405 answers name the documented methods."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import API_KEY, make_png

from dicebox.service import service_context

HERE = Path(__file__).resolve().parent
EXAMPLES_PER_OPERATION = 30


def test_every_answer_matches_the_document(live_service, tmp_path):
    url, app = live_service
    service_context(app).default_dataset().store_many([(make_png(i), str(i % 3)) for i in range(12)])
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st, "schemathesis is not installed: pip install '.[test]'"
    command = [
        st,
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{url}/api/v1/openapi.json",
        "--checks",
        "all",
        "-H",
        f"API-ACCESS-KEY: {API_KEY}",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "1",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py")}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-8000:]
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", report)
    assert selected and int(selected[2]) >= 30 and selected[1] == selected[2] == selected[3], report[-3000:]


def test_document_lists_every_route(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {path.replace("{", "<").replace("}", ">") for path in document["paths"]}
    documented = {path.replace("<image_id>", "<image_id:image_id>") for path in documented}
    routed = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routed == documented


def test_every_operation_has_an_id_and_typed_answers(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            for status, answer in operation["responses"].items():
                for content in answer.get("content", {}).values():
                    schema = content["schema"]
                    assert schema != {"type": "object"} or path == "/api/v1/openapi.json", (method, path, status)
    assert len(ids) == len(set(ids))
    schemes = document["components"]["securitySchemes"]
    assert schemes["Bearer"] == {**schemes["Bearer"], "type": "http", "scheme": "bearer"}
