"""The architecture's boundaries fail loudly when crossed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dicebox

ROOT = Path(__file__).resolve().parent.parent


def _package_dir(name: str) -> Path:
    import importlib

    return Path(importlib.import_module(f"dicebox.{name}").__file__).parent if name else Path(dicebox.__file__).parent


def imports_of(folder: Path) -> dict[str, set[str]]:
    found = {}
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path)] = names
    return found


def top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# The commands that open the window are the one place the core hands over to the GUI; they may
# import it inside a function (never at module level, so the CLI starts without Qt).
GUI_LAUNCHERS = {"gui.py", "demo.py"}


MAPPED_IN = ("gui", "camera", "assets")  # installed inside dicebox/, but not part of the core


def test_core_has_no_qt_and_flask_and_pika_stay_in_their_place():
    core = _package_dir("")
    for path, names in imports_of(core).items():
        if Path(path).relative_to(core).parts[0] in MAPPED_IN:
            continue
        roots = {n.split(".")[0] for n in names}
        assert "PyQt5" not in roots, path
        gui_imports = [n for n in names if n.startswith("dicebox.gui")]
        if Path(path).parent.name == "cli" and Path(path).name in GUI_LAUNCHERS:
            assert not any(n.startswith("dicebox.gui") for n in top_level_imports(Path(path))), path
        else:
            assert not gui_imports, path
        if "/service/" not in path:
            assert "flask" not in roots and "waitress" not in roots, path
        if "rabbit" not in Path(path).name:
            assert "pika" not in roots, path


def test_camera_depends_on_opencv_and_numpy_only():
    allowed = set(sys.stdlib_module_names) | {"cv2", "numpy"}
    for path, names in imports_of(_package_dir("camera")).items():
        assert {n.split(".")[0] for n in names} <= allowed, (path, names)


def test_importing_the_core_and_the_cli_does_not_load_heavy_libraries():
    code = (
        "import sys, dicebox, dicebox.cli, dicebox.config, dicebox.client, dicebox.store;"
        "dicebox.cli.build_parser();"
        "heavy = [m for m in ('tensorflow', 'keras', 'PyQt5', 'flask', 'pika') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.stdout.strip() == "[]", out.stderr


def test_gui_and_camera_are_not_installed_as_top_level_packages():
    code = "import importlib.util as u; print(u.find_spec('gui'), u.find_spec('camera'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.stdout.strip() == "None None", out.stdout
