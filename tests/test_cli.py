"""The dicebox command as a user runs it: exit codes, one-line errors, import and export."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from helpers import make_png

import dicebox


def run(*args, env_home, check=True):
    env = {"DICEBOX_HOME": str(env_home), "PATH": "/usr/bin:/bin", "HOME": str(env_home)}
    proc = subprocess.run([sys.executable, "-m", "dicebox", *args], capture_output=True, text=True, env=env,
                          cwd=env_home.parent, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_version(tmp_path):
    assert run("--version", env_home=tmp_path / "h").stdout.strip() == f"dicebox {dicebox.__version__}"


def test_import_then_export_zip_and_folder(tmp_path):
    tree = tmp_path / "tree"
    for category in ("cat", "dog"):
        (tree / category).mkdir(parents=True)
        for i in range(3):
            (tree / category / f"{i}.png").write_bytes(make_png(hash(category) % 1000 + i, 80, 80))
    out = run("import", str(tree), env_home=tmp_path / "h").stdout
    assert "imported 6 images into dice_60x50" in out
    again = run("import", str(tree), env_home=tmp_path / "h").stdout
    assert "imported 0 images" in again and "6 already there" in again
    run("export", "--out", str(tmp_path / "out.zip"), env_home=tmp_path / "h")
    names = zipfile.ZipFile(tmp_path / "out.zip").namelist()
    assert "dice_60x50/category_map.json" in names
    assert sum(n.endswith(".png") for n in names) == 6
    run("export", "--out", str(tmp_path / "folder"), env_home=tmp_path / "h")
    assert len(list((tmp_path / "folder" / "dice_60x50" / "data" / "dog").glob("*.png"))) == 3


@pytest.mark.parametrize("args, words", [
    (["import", "/does/not/exist"], "not a folder"),
    (["export", "--dataset", "missing_1x1", "--out", "x.zip"], "does not exist"),
    (["serve", "--config", "/no/such/file"], "configuration file not found"),
    (["serve", "--port", "70000"], "--port"),
])
def test_errors_are_one_line_and_nonzero(tmp_path, args, words):
    proc = run(*args, env_home=tmp_path / "h", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr


def test_import_with_a_bad_image_imports_nothing(tmp_path):
    tree = tmp_path / "tree" / "a"
    tree.mkdir(parents=True)
    (tree / "good.png").write_bytes(make_png(1))
    (tree / "bad.png").write_bytes(b"not a png")
    proc = run("import", str(tmp_path / "tree"), env_home=tmp_path / "h", check=False)
    assert proc.returncode == 2 and "bad.png" in proc.stderr
    assert not list((tmp_path / "h").rglob("*.png"))
    ok = run("import", "--skip-bad", str(tmp_path / "tree"), env_home=tmp_path / "h")
    assert "imported 1 images" in ok.stdout and "1 skipped" in ok.stdout


def test_sensory_service_script_takes_the_same_flags(tmp_path):
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "sensory_service.py"
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for flag in ("--config", "--host", "--port", "--data-dir"):
        assert flag in proc.stdout


@pytest.mark.parametrize("folders", [("Dog", "dog"), ("a", "CONIN$")], ids=["case", "device"])
def test_import_of_folders_windows_or_macos_would_merge_imports_nothing(tmp_path, folders):
    for n, category in enumerate(folders):
        (tmp_path / "tree" / category).mkdir(parents=True)
        (tmp_path / "tree" / category / "0.png").write_bytes(make_png(10 + n))
    proc = run("import", str(tmp_path / "tree"), env_home=tmp_path / "h", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "nothing was imported" in lines[0], proc.stderr
    assert not list((tmp_path / "h").rglob("*.png"))


def test_import_of_a_decomposed_folder_name_adds_to_the_composed_category(tmp_path):
    import unicodedata

    for n, form in enumerate(("NFC", "NFD")):
        tree = tmp_path / f"tree{n}" / unicodedata.normalize(form, "café")
        tree.mkdir(parents=True)
        (tree / "0.png").write_bytes(make_png(20 + n))
        run("import", str(tree.parent), env_home=tmp_path / "h")
    out = run("import", str(tmp_path / "tree0"), env_home=tmp_path / "h").stdout
    assert "café: 2" in out and out.count("caf") == 1, out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-items-per-second", "-1"], "--max-items-per-second -1.0: must be 0 (no limit) or more"),
        (["--max-items-per-second", "nan"], "--max-items-per-second nan: must be 0 (no limit) or more"),
        (["--prefetch", "0"], "--prefetch 0: must be at least 1"),
    ],
)
def test_batch_processor_refuses_bad_settings_in_one_line(tmp_path, args, message):
    proc = run("batch-processor", "--broker", "amqp://guest:guest@127.0.0.1:1/", *args, env_home=tmp_path / "h",
               check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"dicebox: error: {message}"]
