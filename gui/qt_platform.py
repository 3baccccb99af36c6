"""Creating the one QApplication the way dicebox needs it on a real desktop.

Imports no Qt at module level: tests and the CLI call :func:`prepare_environment` and
:func:`missing_xcb_libraries` before any Qt library is loaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# Qt's xcb platform loads its GLX integration when a window is shown, and with it Mesa's libLLVM.
# TensorFlow carries its own LLVM: imported after Mesa's, its static constructors bind to Mesa's
# symbols and crash (SIGSEGV in DebugInfoMetadata.cpp). dicebox draws with QPainter only, so the
# window needs no OpenGL; without the integration, Mesa is never loaded.
GL_INTEGRATION = ("QT_XCB_GL_INTEGRATION", "none")

# Libraries Qt's xcb plugin needs that a minimal Linux desktop may lack, and the Debian/Ubuntu
# packages that bring them (pip cannot).
XCB_PACKAGES: dict[str, str] = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
}


# The window loads TensorFlow to classify: its C++ start-up notes (CPU features, absl) are no
# news for the operator's terminal, as in the training children (dicebox.plumbing.child_process).
QUIET_TENSORFLOW = ("TF_CPP_MIN_LOG_LEVEL", "2")


def prepare_environment() -> None:
    """Settings Qt (and TensorFlow) read when they start; a value the user set wins."""
    for name, value in (GL_INTEGRATION, QUIET_TENSORFLOW):
        os.environ.setdefault(name, value)


def application():
    """The process's QApplication, created after :func:`prepare_environment`."""
    prepare_environment()
    from PyQt5.QtWidgets import QApplication

    return QApplication.instance() or QApplication(sys.argv[:1])


def uses_xcb(environ: dict[str, str] | os._Environ = os.environ) -> bool:
    """Whether Qt will open the xcb platform (Linux with an X display and no other platform asked)."""
    if not sys.platform.startswith("linux"):
        return False
    platform = environ.get("QT_QPA_PLATFORM", "")
    return not platform or platform.split(":", 1)[0] == "xcb"  # Qt 5's default on Linux is xcb


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin inside the PyQt5 wheel, if it is there."""
    try:
        import PyQt5  # noqa: TID251 - only to find the plugin file; no Qt library is loaded
    except ImportError:
        return None
    for base in map(Path, PyQt5.__path__):
        for candidate in (base / "Qt5" / "plugins" / "platforms" / "libqxcb.so",
                          base / "Qt" / "plugins" / "platforms" / "libqxcb.so"):
            if candidate.is_file():
                return candidate
    return None


def missing_libraries(binary: Path) -> list[str]:
    """The shared libraries ``binary`` needs that the dynamic loader cannot find (by ``ldd``)."""
    try:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []  # no ldd (or it failed): let Qt say what it says
    return sorted(set(re.findall(r"^\s*(\S+)\s*=>\s*not found", out, flags=re.MULTILINE)))


def missing_xcb_libraries(plugin: Path | None = None) -> str | None:
    """One line saying which system libraries Qt's xcb plugin lacks and how to install them, or None."""
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin)
    if not missing:
        return None
    packages = sorted({XCB_PACKAGES.get(lib, lib) for lib in missing})
    return (
        f"Qt cannot open the display: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; "
        f"install {'it' if len(missing) == 1 else 'them'} with: sudo apt-get install {' '.join(packages)}"
    )
