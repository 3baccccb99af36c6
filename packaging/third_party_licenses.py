"""Copy the licence files of every installed Python distribution into one folder.

    python third_party_licenses.py OUT_DIR

Run with the build venv's interpreter: its distributions are exactly what the frozen bundle
carries. Writes OUT_DIR/<distribution>/<licence files> and OUT_DIR/SUMMARY.txt (name, version and
declared licence of each), so a binary release ships the notices its components ask for.
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

LICENCE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.I)
BUILD_ONLY = {"pip", "setuptools", "wheel", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph"}


def declared_licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    text = meta.get("License-Expression") or meta.get("License") or ""
    text = text.strip().splitlines()[0] if text.strip() else ""
    if not re.search(r"[A-Za-z]", text) or len(text) > 80:
        classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")]
        text = ", ".join(classifiers) or text[:80] or "see the files"
    return text


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for dist in sorted(metadata.distributions(), key=lambda d: d.metadata["Name"].lower()):
        name = dist.metadata["Name"]
        if name.lower() in BUILD_ONLY:
            continue
        summary.append(f"{name} {dist.version}: {declared_licence(dist)}")
        for file in dist.files or []:
            if LICENCE_FILE.search(file.name) and not file.name.endswith((".py", ".pyc")):
                source = Path(file.locate())
                if source.is_file():
                    target = out / name / file.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
    (out / "SUMMARY.txt").write_text("\n".join(summary) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
