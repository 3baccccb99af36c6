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


MAPPED_IN = ("gui", "camera", "assets")
# pika lives in dicebox.broker and in the two backends that place requests through it.
PIKA_REQUESTERS = {"rabbitmq.py", "rabbit_evaluator.py"}  # installed inside dicebox/, but not part of the core


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
        if "/broker/" not in path and Path(path).name not in PIKA_REQUESTERS:
            assert "pika" not in roots, path


def test_camera_depends_on_opencv_numpy_and_the_core_images_only():
    allowed = set(sys.stdlib_module_names) | {"cv2", "numpy"}
    for path, names in imports_of(_package_dir("camera")).items():
        outside = {n for n in names if n.split(".")[0] not in allowed}
        assert {n for n in outside if n != "dicebox.images" and not n.startswith("dicebox.images.")} == set(), path


def test_core_images_depend_on_opencv_and_numpy_only():
    allowed = set(sys.stdlib_module_names) | {"cv2", "numpy"}
    for path, names in imports_of(_package_dir("images")).items():
        assert {n.split(".")[0] for n in names} <= allowed, (path, names)


# What may open a camera: the commands and the scripted demo, which drive synthetic or real sources.
CAMERA_USERS = ("cli", "demo")


def test_core_never_imports_the_camera_package():
    core = _package_dir("")
    for path, names in imports_of(core).items():
        parts = Path(path).relative_to(core).parts
        if parts[0] in MAPPED_IN or parts[0] in CAMERA_USERS:
            continue
        assert not [n for n in names if n == "dicebox.camera" or n.startswith("dicebox.camera.")], path


def test_importing_the_core_and_the_cli_does_not_load_heavy_libraries():
    code = (
        "import sys, dicebox, dicebox.cli, dicebox.config, dicebox.client.http, dicebox.store;"
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


def test_the_package_path_is_not_changed_at_run_time():
    # camera/ and gui/ join dicebox through the install's mapping (setup.py), not through __path__.
    assert len(dicebox.__path__) == 1 and Path(dicebox.__path__[0]).name == "dicebox"
    assert "__path__" not in (ROOT / "dicebox" / "__init__.py").read_text(encoding="utf-8")


def test_a_checkout_that_was_never_installed_says_how_to_install_it():
    from dicebox.cli.roles import missing_dependency

    message = missing_dependency(ModuleNotFoundError("No module named 'dicebox.gui'", name="dicebox.gui"), "gui")
    assert message == (
        "dicebox gui needs dicebox.gui, which this checkout has not installed: "
        "pip install -e . in the checkout (or pip install .)"
    )


def architecture_table() -> dict[str, set[str]]:
    """ARCHITECTURE.md's table: package -> the dicebox packages it may import."""
    table = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            table[cells[0].strip("`")] = {c.strip().strip("`") for c in cells[2].split(",")} - {"—"}
    return table


def _imports_of_unit(name: str) -> dict[str, set[str]]:
    """Imports of one package of the table (a folder, or the one-module ``config``)."""
    module = _package_dir("") / f"{name}.py"
    if module.exists():
        return {path: names for path, names in imports_of(module.parent).items() if Path(path) == module}
    return imports_of(_package_dir(name))


def test_every_package_imports_only_what_the_architecture_table_allows():
    table = architecture_table()
    core = _package_dir("")
    units = {p.name for p in core.iterdir() if (p / "__init__.py").exists()}
    units |= {p.stem for p in core.glob("*.py") if not p.name.startswith("__")} | {"camera", "gui"}
    assert units == set(table), "ARCHITECTURE.md's table lists every package, and only those"
    crossings = []
    for unit, allowed in table.items():
        for path, names in _imports_of_unit(unit).items():
            for name in names:
                parts = name.split(".")
                if parts[0] != "dicebox" or len(parts) < 2 or parts[1] in (unit, "__version__"):
                    continue
                if parts[1] not in allowed:
                    crossings.append(f"{path}: {unit} imports {name}")
    assert crossings == [], "\n".join(crossings)


def test_the_top_of_the_core_holds_packages_and_entry_points_only():
    core = _package_dir("")
    modules = sorted(p.name for p in core.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "config.py"], modules
