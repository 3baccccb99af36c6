"""The install roles: each role's complete requirement list, from pyproject.toml's extras.

``pip install .`` gives the operator's full install. A lighter machine installs exactly its role's
requirements, then dicebox without its dependencies (in this order pip has nothing to warn about)::

    pip install -r requirements/server.txt && pip install --no-deps .

This script writes ``requirements/<role>.txt`` from the extras of the same name (pyproject.toml is
the one place to change a role), and ``--check`` fails when a file is out of date (the tests run it).

    python packaging/roles.py            # rewrite requirements/<role>.txt
    python packaging/roles.py --check    # exit 1 when one differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = ROOT / "requirements"
#: Roles installed alone (each extra is complete), and what each is for.
ROLES = {
    "station": "a recording station: GUI, camera, client, classifying through onnxruntime (no TensorFlow)",
    "server": "a server: sensory service, store, batch orders and processors, API docs, onnxruntime (no Qt, no matplotlib, no TensorFlow)",
    "trainer": "a trainer: dicebox train, evolve, worker and export-model (every format) on the CPU",
    "gpu": "a trainer with an NVIDIA GPU on Linux: tensorflow[and-cuda], never beside tensorflow-cpu",
}


def _load_pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def role_requirements(role: str) -> list[str]:
    """The complete requirement list of ``role`` (pyproject.toml's extra of that name)."""
    return list(_load_pyproject()["project"]["optional-dependencies"][role])


def requirements_file(role: str) -> str:
    """The text of ``requirements/<role>.txt``."""
    lines = [
        f"# dicebox as {ROLES[role]}.",
        "# Written by packaging/roles.py from pyproject.toml's extra of the same name: change it there.",
        "# Install these, then dicebox without its dependencies (roles combine: -r station.txt -r server.txt):",
        f"#   pip install -r requirements/{role}.txt && pip install --no-deps .",
        "# Pinned (what the Docker image and the installers use): add -c requirements/constraints.txt",
        *role_requirements(role),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for role in ROLES:
        path = REQUIREMENTS / f"{role}.txt"
        text = requirements_file(role)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"out of date with pyproject.toml: {names} (run python packaging/roles.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
