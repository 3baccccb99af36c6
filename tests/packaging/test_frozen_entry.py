"""packaging/dicebox_main.py, the frozen app's entry point, behaves like the dicebox command."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def entry(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("dicebox_main", ROOT / "packaging" / "dicebox_main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []
    import dicebox.cli

    monkeypatch.setattr(dicebox.cli, "main", lambda argv: calls.append(argv) or 0)
    monkeypatch.setenv("DICEBOX_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", "unset")  # records the original value, restored afterwards
    monkeypatch.delenv("KERAS_HOME")
    return module, calls


@pytest.mark.parametrize("platform, frozen, expected", [
    ("win32", True, ["gui"]),
    ("darwin", True, ["gui"]),
    ("linux", True, []),
    ("win32", False, []),
])
def test_no_arguments_open_the_gui_only_where_apps_are_double_clicked(entry, monkeypatch, platform, frozen, expected):
    module, calls = entry
    monkeypatch.setattr(sys, "argv", ["dicebox"])
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(sys, "frozen", frozen, raising=False)
    assert module.main() == 0
    assert calls == [expected]


def test_subcommands_pass_through_and_keras_stays_in_the_data_folder(entry, monkeypatch, tmp_path):
    module, calls = entry
    monkeypatch.setattr(sys, "argv", ["dicebox", "serve", "--port", "0", "-psn_0_12345"])
    module.main()
    assert calls == [["serve", "--port", "0"]]
    assert os.environ["KERAS_HOME"] == str(tmp_path / "keras")
