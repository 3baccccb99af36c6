"""Which Debian packages a frozen bundle needs from the system (for the .deb's Depends).

    python needed_packages.py BUNDLE_DIR            # one package per line
    python needed_packages.py --glibc BUNDLE_DIR    # the newest GLIBC_x.y symbol version used

PyInstaller copies most shared libraries into the bundle but leaves out a few on purpose (libc,
libGL/libEGL, which must match the machine's drivers, and the libraries build.sh removes). This
reads every ELF file's DT_NEEDED entries (readelf), drops the sonames a bundled file provides,
and maps the rest to the packages that own them (ldconfig -p, then dpkg -S). A library that is not
installed on the build machine is named after Debian's policy for library packages (soname
libfoo-bar.so.4 -> package libfoo-bar4), and reported on stderr so it can be checked by hand.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path


def elf_files(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    files.append(path)
    return files


def dynamic_section(path: Path) -> tuple[set[str], str | None]:
    """DT_NEEDED sonames and the DT_SONAME of one ELF file."""
    out = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    soname = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return needed, soname.group(1) if soname else None


def external_sonames(root: Path) -> dict[str, set[str]]:
    """Sonames needed by some bundled file and provided by none, with who needs them."""
    provided = {p.name for p in root.rglob("*")}
    needs: dict[str, set[str]] = {}
    for path in elf_files(root):
        needed, soname = dynamic_section(path)
        if soname:
            provided.add(soname)
        for name in needed:
            needs.setdefault(name, set()).add(str(path.relative_to(root)))
    return {name: users for name, users in needs.items() if name not in provided}


def system_paths() -> dict[str, str]:
    """soname -> path of the 64-bit x86 library the dynamic loader would pick (ldconfig -p)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    paths: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"\s+(\S+) \(([^)]*)\) => (\S+)", line)
        if match and "x86-64" in match.group(2):
            paths.setdefault(match.group(1), match.group(3))
    return paths


def owning_package(path: str) -> str | None:
    """The package owning ``path``; with merged /usr, dpkg may know it under /lib or /usr/lib."""
    candidates = [path, str(Path(path).resolve())]
    for candidate in list(candidates):
        if candidate.startswith("/usr/lib/"):
            candidates.append(candidate[len("/usr"):])
        elif candidate.startswith("/lib"):
            candidates.append("/usr" + candidate)
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            package = result.stdout.split(":", 1)[0].strip()
            return package.split(",")[0].strip()
    return None


def policy_name(soname: str) -> str:
    """Debian's library package name for a soname: libfoo.so.6 -> libfoo6, libx-11.so.0 -> libx-11-0."""
    match = re.match(r"(.+)\.so\.(\d+)", soname)
    if not match:
        return soname
    name, major = match.group(1).lower().replace("_", "-"), match.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def newest_glibc(root: Path) -> str:
    versions = set()
    for path in elf_files(root):
        out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True).stdout
        versions.update(re.findall(r"\bGLIBC_(\d+(?:\.\d+)+)\b", out))
    return max(versions, key=lambda v: tuple(int(x) for x in v.split("."))) if versions else "0"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--glibc", action="store_true", help="print the newest GLIBC symbol version instead")
    args = parser.parse_args()
    if args.glibc:
        print(newest_glibc(args.bundle))
        return 0
    paths = system_paths()
    packages = set()
    for soname, users in sorted(external_sonames(args.bundle).items()):
        package = owning_package(paths[soname]) if soname in paths else None
        if package is None:
            package = policy_name(soname)
            print(f"needed_packages: {soname} is not installed here (needed by {sorted(users)[0]}...); "
                  f"assuming package {package}", file=sys.stderr)
        packages.add(package)
    print("\n".join(sorted(packages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
