"""Renew requirements/constraints.txt: the exact versions the Docker image and the installers are built from.

It installs ``.[all,test]`` (every dependency dicebox and its tests can use) into a fresh virtualenv
and writes ``pip freeze`` of it, so the file pins a set that pip resolved together and the tests
passed with. Builds use it as a constraints file (``-c``): it pins what a build installs without
installing anything by itself, so one file serves every role.

    python packaging/lock.py [--python python3.11]

Run it on Linux x86-64 with the Python the images use (3.11): distributions only other platforms
need (``tensorflow`` on macOS, the CUDA wheels of the gpu role) are not in it and stay free there.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def frozen_versions(python: str, work: Path) -> tuple[list[str], str]:
    """``pip freeze`` (without dicebox itself) of a fresh venv holding ``.[all,test]``, and its Python version."""
    target = work / "venv"
    subprocess.run([python, "-m", "venv", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "--quiet", f"{ROOT}[all,test]"], check=True)
    frozen = subprocess.run(
        [*pip, "freeze", "--exclude", "dicebox"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    version = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return sorted((line for line in frozen if "==" in line), key=str.lower), version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the Python to build the venv with")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dicebox-lock-") as work:
        pins, version = frozen_versions(args.python, Path(work))
    header = [
        "# Exact versions the Docker image and the installers are built from (pip install ... -c this file).",
        f"# pip freeze of a fresh venv with '.[all,test]': CPython {version}, {platform.system()} "
        f"{platform.machine()}, {date.today().isoformat()}.",
        "# Renew: python packaging/lock.py (then run the tests and commit the file).",
    ]
    CONSTRAINTS.write_text("\n".join(header + pins) + "\n", encoding="utf-8")
    print(f"wrote {CONSTRAINTS.relative_to(ROOT)}: {len(pins)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
