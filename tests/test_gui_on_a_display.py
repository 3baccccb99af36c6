"""The desktop app on a real X display (Xvfb, Qt's xcb platform with GLX), as a Linux desktop runs it.

Qt's offscreen platform loads no OpenGL, so bugs of the real platform never show there: loading a
model once the window was shown crashed the app (TensorFlow after Mesa's libLLVM). These tests start
Xvfb and run the app, the demo and the GUI tests on it. Without Xvfb they skip, except in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(1200)

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def display():
    """A fresh Xvfb display (1280x800, with GLX); the environment to run Qt on it with xcb."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Xvfb is missing: .ci/run installs it (apt-get install xvfb)")
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read, write = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1280x800x24", "+extension", "GLX", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        pytest.fail("Xvfb did not start")
    env = {**os.environ, "DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb", "DICEBOX_TEST_QT_PLATFORM": "xcb",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("QT_XCB_GL_INTEGRATION", None)
    yield env
    proc.terminate()
    proc.wait(timeout=10)


def _run(args: list[str], env: dict, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def test_tensorflow_loads_after_the_window_is_shown(display, tmp_path):
    script = textwrap.dedent("""
        from PyQt5.QtWidgets import QLabel
        from dicebox.gui.qt_platform import application

        app = application()
        label = QLabel("dicebox")
        label.show()
        while not (label.windowHandle() and label.windowHandle().isExposed()):
            app.processEvents()
        import keras

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        print("classified", model(keras.ops.zeros((1, 4))).shape, app.platformName(), flush=True)
    """)
    proc = _run([sys.executable, "-c", script], display, tmp_path, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    assert "classified (1, 2) xcb" in proc.stdout


def test_the_gui_tests_pass_on_the_xcb_platform(display, tmp_path):
    """The GUI tests (recording, loading models, classifying, training, evolution) on the real platform."""
    proc = _run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(TESTS / "gui")],
                display, TESTS.parent, timeout=1100)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def test_demo_with_the_window_runs_to_the_end_on_the_xcb_platform(display, tmp_path):
    env = {**display, "DICEBOX_HOME": str(tmp_path / "home")}
    env.pop("DICEBOX_API_ACCESS_KEY", None)
    proc = _run(
        [sys.executable, "-m", "dicebox", "demo", "--gui", "--out", str(tmp_path / "demo"), "--per-face", "12",
         "--scenes", "3", "--misclassified", "2", "--generations", "2", "--population", "2", "--epochs", "1",
         "--final-epochs", "2", "--test-frames", "30", "--close-when-done"],
        env, tmp_path, timeout=900,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    assert (tmp_path / "demo" / "data" / "weights" / "champion" / "bundle.json").is_file()


def test_gui_without_a_display_says_so_in_one_line(tmp_path):
    env = {**os.environ, "DICEBOX_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": ""}
    env.pop("DISPLAY", None)
    proc = _run([sys.executable, "-m", "dicebox", "gui", "--smoke-test"], env, tmp_path, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "DISPLAY" in lines[0], proc.stderr


def test_missing_xcb_libraries_are_named_with_the_package_to_install(tmp_path, monkeypatch):
    """A plugin linked against a library that is gone: ldd says so, and the message names the package."""
    from dicebox.gui import qt_platform
    from dicebox.gui.qt_platform import missing_libraries, missing_xcb_libraries

    name = "libxcb-dicebox-test.so.4"  # a library no machine has, standing for e.g. libxcb-icccm.so.4
    monkeypatch.setitem(qt_platform.XCB_PACKAGES, name, "libxcb-dicebox-test4")

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a test plugin")
    (tmp_path / "lib.c").write_text("int icccm(void) { return 4; }\n")
    (tmp_path / "plugin.c").write_text("int icccm(void);\nint plugin(void) { return icccm(); }\n")
    lib = tmp_path / name
    subprocess.run([cc, "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o", str(lib), str(tmp_path / "lib.c")],
                   check=True)
    plugin = tmp_path / "libqxcb.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "plugin.c"), str(lib)], check=True)
    lib.unlink()
    assert missing_libraries(plugin) == [name]
    assert missing_xcb_libraries(plugin) == (
        f"Qt cannot open the display: {name} is missing; install it with: sudo apt-get install libxcb-dicebox-test4"
    )
    assert missing_xcb_libraries() is None  # this machine's own plugin has what it needs
