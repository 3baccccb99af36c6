"""The README stays a true guide: its two commands, and every configuration key."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

from dicebox.config import SECTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_blocks() -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", README, re.S | re.M)


def test_the_first_two_blocks_are_the_main_job_and_the_tests():
    main_job, tests = fenced_blocks()[:2]
    assert "pip install ." in main_job and "dicebox demo" in main_job
    assert "pip install -e '.[test]'" in tests and tests.strip().endswith("pytest")


def test_ci_runs_exactly_the_readme_test_command():
    extracted = subprocess.run(
        ["awk", "/^```/{n++; next} n==3{print}", "README.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert extracted.strip() == fenced_blocks()[1].strip()
    assert "$test_command" in (ROOT / ".ci" / "run").read_text()


def test_every_configuration_key_is_documented():
    ini = next(block for block in fenced_blocks() if block.lstrip().startswith("[DATASET]"))
    for section, (_attr, cls) in SECTIONS.items():
        assert f"[{section}]" in ini
        for field in dataclasses.fields(cls):
            assert re.search(rf"^{field.name} =", ini, re.M), f"[{section}] {field.name} is not in the README"


def test_the_readme_ini_block_pasted_into_a_file_loads_as_the_defaults(tmp_path, caplog):
    from dicebox.config import Config, load_config

    ini = next(block for block in fenced_blocks() if block.lstrip().startswith("[DATASET]"))
    assert re.search(r" [;#] ", ini), "the block keeps its inline comments: they are what this test is about"
    path = tmp_path / "dicebox.config"
    path.write_text(ini, encoding="utf-8")
    config = load_config(path, env={"DICEBOX_HOME": str(tmp_path / "home")})
    defaults = Config()
    for _section, (attr, _cls) in SECTIONS.items():
        loaded = getattr(config, attr)
        if attr == "server":
            assert config.server.api_access_key == (tmp_path / "home" / "api_key").read_text().strip()
            loaded = dataclasses.replace(loaded, api_access_key="")
        assert loaded == getattr(defaults, attr), f"[{_section}] in the README differs from the defaults"
    assert not [r.getMessage() for r in caplog.records if r.levelname == "WARNING"], "every README key is read"
