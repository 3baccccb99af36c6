"""Strip symbol tables from the big shared libraries of a frozen bundle, safely.

    python strip_bundle.py BUNDLE_DIR

Most of the bundle's dead weight is symbol tables (TensorFlow's libtensorflow_cc alone carries
~200 MB); ``strip --strip-unneeded`` removes them and keeps the dynamic symbols the loader needs.
But strip rewrites the file layout, and on libraries that ``patchelf`` edited (auditwheel does, for
the ``<package>.libs/`` folders of manylinux wheels) the result can fail to load ("ELF load
command address/offset not page-aligned"). So: only libraries with more than MIN_SAVING bytes of
symbols are stripped, each into a copy that is checked (every PT_LOAD segment congruent with its
alignment) before it replaces the original; ``*.libs/`` folders are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MIN_SAVING = 256 * 1024
SECTION = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", re.M)
LOAD = re.compile(r"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+\S+\s+0x([0-9a-f]+)", re.M)


def symbol_bytes(path: Path) -> int:
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True).stdout
    return sum(int(size, 16) for name, size in SECTION.findall(out)
               if name in (".symtab", ".strtab") or name.startswith(".debug"))


def loadable(path: Path) -> bool:
    """Every PT_LOAD segment has offset == vaddr modulo its alignment (what ld.so requires)."""
    result = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True)
    segments = LOAD.findall(result.stdout)
    if result.returncode != 0 or not segments:
        return False
    return all(int(off, 16) % int(align, 16) == int(vaddr, 16) % int(align, 16)
               for off, vaddr, align in segments if int(align, 16) > 1)


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def main() -> int:
    root = Path(sys.argv[1])
    saved = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or any(p.endswith(".libs") for p in path.parts):
            continue
        if not is_elf(path) or symbol_bytes(path) < MIN_SAVING:
            continue
        before = path.stat().st_size
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            stripped = Path(tmp) / path.name
            if subprocess.run(["strip", "--strip-unneeded", "-o", str(stripped), str(path)]).returncode != 0:
                print(f"strip_bundle: strip failed, kept {path.relative_to(root)}", file=sys.stderr)
                continue
            if not loadable(stripped):
                print(f"strip_bundle: stripped copy would not load, kept {path.relative_to(root)}", file=sys.stderr)
                continue
            shutil.copymode(path, stripped)
            os.replace(stripped, path)
        saved += before - path.stat().st_size
        print(f"stripped {path.relative_to(root)}: {before / 2**20:.1f} -> {path.stat().st_size / 2**20:.1f} MB")
    print(f"strip_bundle: {saved / 2**20:.0f} MB saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
