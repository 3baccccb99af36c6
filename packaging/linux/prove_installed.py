"""Check an installed dicebox desktop bundle end to end (called by packaging/linux/prove.sh).

    python3 prove_installed.py --app /usr/bin/dicebox --bundle /opt/dicebox

Standard library only: it runs with whatever python3 the prover has, while the app under test
runs with the environment stripped (env -i PATH=/usr/bin:/bin), so nothing of the prover's
Python can leak into it. Each check prints one "ok ..." line; the first failure raises.

Checks: the frozen executable answers --version and its process runs the bundle's own
interpreter; the service starts, answers /health/plain and stores images; a network is trained
from them (TensorFlow inside the bundle) and served on /api/classify; evolution spawns worker
processes through the frozen executable (multiprocessing); the GUI starts offscreen and launches
its one-click local service through the bundle; on X11 (Xvfb, when installed) the window really
appears; and nothing is written outside the user's data folder.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

API_KEY = "prove-key-0123456789"
API_VERSION = "0.3.0"
DATASET = ("proof", 60, 50)
GUI_TITLE = "dicebox — supervised trainer"


class ProofError(AssertionError):
    pass


def ok(message: str) -> None:
    print(f"ok   {message}", flush=True)


def png_gray(width: int, height: int, pixel) -> bytes:
    """A grayscale PNG from pixel(x, y) -> 0..255, written by hand (no imaging library needed)."""
    rows = b"".join(b"\x00" + bytes(pixel(x, y) & 255 for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sample_image(category: int, index: int) -> bytes:
    """Distinct images: category 0 horizontal gradients, category 1 vertical stripes."""
    width, height = DATASET[1], DATASET[2]
    if category == 0:
        return png_gray(width, height, lambda x, y: 20 + 3 * x + index)
    return png_gray(width, height, lambda x, y: 255 - index if (x // (3 + index % 4)) % 2 else 30 + index)


class Prover:
    def __init__(self, app: Path, bundle: Path, work: Path) -> None:
        self.app = app
        self.bundle = bundle.resolve()
        self.work = work
        self.home = work / "home"
        self.cwd = work / "cwd"  # the app's working folder: must stay empty
        self.data = work / "data"
        for folder in (self.home, self.cwd, self.data):
            folder.mkdir(parents=True)
        self.marker = work / "started"
        self.marker.write_text("")
        time.sleep(1.1)  # file times have 1 s resolution on some file systems

    # Running the app ------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        """A bare environment: no Python, no virtualenv, no PYTHON* variables on the way."""
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8",
               "DICEBOX_API_ACCESS_KEY": API_KEY, "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.app), *args], cwd=self.cwd, env=self.env(**env), capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise ProofError(f"dicebox {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start_service(self, *args: str) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen([str(self.app), "serve", "--port", "0", "--data-dir", str(self.data), *args],
                                cwd=self.cwd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        deadline, lines = time.monotonic() + 120, []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "listening on " in line:
                return proc, line.rsplit("listening on ", 1)[1].strip()
        proc.kill()
        raise ProofError("the service did not start:\n" + "".join(lines))

    def stop(self, proc: subprocess.Popen) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise ProofError(f"process {proc.pid} ignored SIGTERM for 30 s") from None
        if proc.stdout:
            proc.stdout.close()
        return proc.returncode

    @staticmethod
    def http(url: str, body: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
        request.add_header("API-ACCESS-KEY", API_KEY)
        request.add_header("API-VERSION", API_VERSION)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    # The checks -------------------------------------------------------------------------------
    def check_version(self) -> None:
        result = self.run("--version")
        if not re.fullmatch(r"dicebox \S+\n?", result.stdout):
            raise ProofError(f"unexpected --version output: {result.stdout!r}")
        if Path(os.path.realpath(self.app)) != self.bundle / "dicebox":
            raise ProofError(f"{self.app} does not lead to {self.bundle / 'dicebox'}")
        ok(f"{self.app} --version: {result.stdout.strip()} (no python on PATH; the command is the bundle's)")

    def check_frozen_process(self, pid: int) -> None:
        """The running service is the bundle's executable with the bundle's own libpython."""
        exe = Path(os.readlink(f"/proc/{pid}/exe"))
        if exe != self.bundle / "dicebox":
            raise ProofError(f"the service runs {exe}, not the bundle's executable")
        maps = Path(f"/proc/{pid}/maps").read_text()
        pythons = {line.split()[-1] for line in maps.splitlines() if re.search(r"libpython3|/python3\.\d+/", line)}
        outside = sorted(p for p in pythons if not p.startswith(str(self.bundle)))
        if not any("libpython3" in p for p in pythons) or outside:
            raise ProofError(f"python libraries mapped from outside the bundle: {outside or 'no libpython at all'}")
        ok(f"the service process {pid} is {exe}, with libpython from the bundle only")

    def check_service(self) -> None:
        proc, url = self.start_service()
        try:
            self.check_frozen_process(proc.pid)
            status, body = self.http(url + "/health/plain")
            if status != 200 or body.strip() != b"true":
                raise ProofError(f"/health/plain answered {status} {body!r}")
            ok(f"service at {url}: /health/plain answered true")
            name, width, height = DATASET
            for category in (0, 1):
                for index in range(8):
                    image = base64.b64encode(sample_image(category, index)).decode()
                    body = {"name": name, "width": width, "height": height, "category": f"c{category}", "data": image}
                    status, answer = self.http(url + "/api/sensory/store", body)
                    if status != 200 or json.loads(answer) != {"sensory_store": True}:
                        raise ProofError(f"/api/sensory/store answered {status} {answer!r}")
            stored = sorted(self.data.rglob("*.png"))
            if len(stored) != 16:
                raise ProofError(f"expected 16 stored images under {self.data}, found {len(stored)}")
            ok(f"stored 16 base64 PNG images through /api/sensory/store into {stored[0].parent.parent}")
        finally:
            code = self.stop(proc)
        if code != 0:
            raise ProofError(f"the service exited {code} on SIGTERM")
        ok("the service stopped cleanly on SIGTERM")

    def check_train_and_classify(self) -> None:
        name, width, height = DATASET
        model = self.data / "proof-model"
        self.run("train", "--data-dir", str(self.data), "--dataset", f"{name}_{width}x{height}", "--out", str(model),
                 "--epochs", "1", "--seed", "1", "--quiet", timeout=600)
        ok(f"dicebox train: TensorFlow inside the bundle trained a network into {model.name}/")
        proc, url = self.start_service("--model", str(model))
        try:
            status, body = self.http(url + "/api/classify", {"data": base64.b64encode(sample_image(1, 3)).decode()})
            answer = json.loads(body) if status == 200 else None
            if not answer or answer.get("classification") not in (0, 1):
                raise ProofError(f"/api/classify answered {status} {body!r}")
            ok(f"dicebox serve --model: /api/classify answered {answer}")
        finally:
            self.stop(proc)

    def check_worker_processes(self) -> None:
        """`evolve --processes 2` spawns children from sys.executable: multiprocessing when frozen."""
        name, width, height = DATASET
        result = self.run("evolve", "--data-dir", str(self.data), "--dataset", f"{name}_{width}x{height}",
                          "--processes", "2", "--generations", "1", "--population", "2", "--epochs", "1",
                          "--seed", "1", "--run-id", "proof", "--quiet", timeout=600, DICEBOX_FAKE_FITNESS="1")
        if not any(self.data.rglob("proof/**/state.json")):
            raise ProofError(f"evolve wrote no run state:\n{result.stdout}\n{result.stderr}")
        ok("dicebox evolve --processes 2: worker processes spawned from the frozen executable finished a generation")

    def check_gui_offscreen(self) -> None:
        """The GUI starts offscreen, stays up without a traceback, and starts its local service."""
        gui_data = self.work / "gui-data"
        args = [str(self.app), "gui", "--fresh", "--local-service", "--data-dir", str(gui_data)]
        env = self.env(QT_QPA_PLATFORM="offscreen")
        smoke = "--smoke-test" in self.run("gui", "--help").stdout
        if smoke:  # the app's own hook: exits 0 after the window was shown and the service answered
            result = subprocess.run(args + ["--smoke-test"], cwd=self.cwd, env=env, capture_output=True,
                                    text=True, timeout=180)
            if result.returncode != 0 or "window shown" not in result.stdout:
                raise ProofError(f"gui --smoke-test exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
            ok("dicebox gui --smoke-test (offscreen): window shown")
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(args, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            try:
                child = self.wait_for_local_service(proc.pid, timeout=120)
                port = self.listening_port(child, timeout=60)
                status, body = self.http(f"http://127.0.0.1:{port}/health/plain")
                if status != 200 or body.strip() != b"true":
                    raise ProofError(f"the GUI's local service answered {status} {body!r}")
                time.sleep(3)  # a GUI that crashes after start-up would do so by now
                if proc.poll() is not None:
                    raise ProofError(f"the GUI exited with {proc.returncode}")
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)
                log.seek(0)
                output = log.read()
            if "Traceback" in output or "Could not load the Qt platform plugin" in output:
                raise ProofError(f"the GUI printed an error:\n{output}")
        ok(f"dicebox gui (offscreen) ran without error and started its local service {child} "
           f"('{self.bundle / 'dicebox'} serve', port {port}) through the bundle")
        deadline = time.monotonic() + 15
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if Path(f"/proc/{child}").exists():
            raise ProofError(f"the local service {child} outlived the GUI")
        ok("the local service stopped with the GUI")

    def wait_for_local_service(self, gui_pid: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    status = (entry / "status").read_text()
                    argv = (entry / "cmdline").read_bytes().split(b"\0")
                    exe = os.readlink(entry / "exe")
                except OSError:
                    continue
                ppid = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))
                if ppid == gui_pid and b"serve" in argv[1:2]:
                    if Path(exe) != self.bundle / "dicebox":
                        raise ProofError(f"the GUI started its service as {exe}, not through the bundle")
                    return int(entry.name)
            if not Path(f"/proc/{gui_pid}").exists():
                raise ProofError("the GUI exited before starting its local service")
            time.sleep(0.3)
        raise ProofError(f"the GUI started no local service within {timeout:.0f} s")

    @staticmethod
    def listening_port(pid: int, timeout: float) -> int:
        """The TCP port a process listens on (its sockets' inodes matched in /proc/net/tcp)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inodes = set()
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
            for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                        return int(fields[1].rsplit(":", 1)[1], 16)
            time.sleep(0.3)
        raise ProofError(f"process {pid} listens on no TCP port")

    def check_gui_x11(self) -> None:
        """Under Xvfb, the real xcb platform plugin shows a window titled like the app's."""
        xvfb, xwininfo = shutil.which("Xvfb"), shutil.which("xwininfo")
        if not (xvfb and xwininfo):
            print("skip the X11 window check: Xvfb and xwininfo are not installed "
                  "(apt-get install xvfb x11-utils)", flush=True)
            return
        display = f":{os.getpid() % 500 + 100}"
        server = subprocess.Popen([xvfb, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gui = None
        try:
            time.sleep(2)
            env = self.env(DISPLAY=display)
            gui = subprocess.Popen([str(self.app), "gui", "--fresh", "--data-dir", str(self.work / "gui-x11")],
                                   cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            deadline, window = time.monotonic() + 90, None
            while time.monotonic() < deadline and window is None and gui.poll() is None:
                # A UTF-8 locale, or xwininfo escapes the title's em dash.
                tree = subprocess.run([xwininfo, "-root", "-tree"], env={"DISPLAY": display, "LANG": "C.UTF-8"},
                                      capture_output=True, text=True, encoding="utf-8", errors="replace").stdout
                match = re.search(r"(0x[0-9a-f]+) \"" + re.escape(GUI_TITLE) + '"', tree)
                window = match.group(1) if match else None
                time.sleep(0.5)
            if window is None:
                output = gui.stdout.read() if gui.poll() is not None else "(still running)"
                raise ProofError(f"no window titled {GUI_TITLE!r} appeared on {display}:\n{output}")
            # The desktop entry's StartupWMClass=dicebox must match, or docks show a second icon.
            wm_class = re.search(r'\("([^"]*)" "([^"]*)"\)', tree[tree.index(window):].splitlines()[0])
            if not wm_class or wm_class.group(2) != "dicebox":
                raise ProofError(f"window {window} has WM_CLASS {wm_class and wm_class.groups()}, expected class dicebox")
            ok(f"dicebox gui on X11 (Xvfb {display}, xcb plugin): window {window} {GUI_TITLE!r} shown, "
               f"WM_CLASS {wm_class.groups()}")
            # The window icon is dicebox.assets/dicebox.png, read with importlib.resources: a 256x256
            # _NET_WM_ICON proves the frozen app found its package data (Qt has no icon of its own).
            if shutil.which("xprop"):
                icon = subprocess.run(["xprop", "-id", window, "-len", "16", "-f", "_NET_WM_ICON", "32c",
                                       "_NET_WM_ICON"], env={"DISPLAY": display}, capture_output=True, text=True).stdout
                if not re.search(r"= 256, 256\b", icon):
                    raise ProofError(f"the window has no 256x256 icon from dicebox.assets: {icon.strip()}")
                ok("the window icon is the 256x256 dicebox.png, read from the bundle with importlib.resources")
        finally:
            if gui is not None and gui.poll() is None:
                gui.send_signal(signal.SIGTERM)
                gui.wait(timeout=30)
            server.terminate()
            server.wait(timeout=30)

    def check_assets(self) -> None:
        icon = self.bundle / "_internal" / "dicebox" / "assets" / "dicebox.png"
        if not icon.is_file():
            raise ProofError(f"{icon} is missing: dicebox.assets package data was not collected")
        ok(f"package data of dicebox.assets is in the bundle ({icon.relative_to(self.bundle)})")
        dangling = [str(p.relative_to(self.bundle)) for p in self.bundle.rglob("*") if p.is_symlink() and not p.exists()]
        if dangling:
            raise ProofError(f"dangling symlinks in the bundle: {dangling}")
        ok("no dangling symlinks in the bundle")

    def check_writes(self) -> None:
        """The app wrote nothing into the bundle or its working folder; in HOME only the data folder."""
        changed = [str(p) for p in self.bundle.rglob("*") if p.stat(follow_symlinks=False).st_mtime
                   > self.marker.stat().st_mtime]
        if changed:
            raise ProofError(f"the app wrote into its bundle: {changed[:10]}")
        if any(self.cwd.iterdir()):
            raise ProofError(f"the app wrote into its working folder: {sorted(self.cwd.iterdir())}")
        data_home = self.home / ".local" / "share" / "dicebox"
        allowed = (data_home, self.home / ".cache")  # .cache: system libraries' caches (fontconfig, mesa)
        strays = [str(p) for p in self.home.rglob("*") if p.is_file()
                  and not any(p.is_relative_to(a) for a in allowed)]
        if strays:
            raise ProofError(f"the app wrote outside the data folder: {strays[:10]}")
        cached = sorted({str(p.relative_to(self.home)).split("/")[1] for p in (self.home / ".cache").rglob("*")}
                        ) if (self.home / ".cache").exists() else []
        ok(f"nothing written to the bundle or the working folder; in HOME only {data_home.relative_to(self.home)}"
           + (f" and system caches {cached}" if cached else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, required=True, help="the installed dicebox command")
    parser.add_argument("--bundle", type=Path, required=True, help="the installed bundle folder (/opt/dicebox)")
    parser.add_argument("--skip-slow", action="store_true", help="skip training and evolution")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicebox-prove-") as tmp:
        prover = Prover(args.app, args.bundle, Path(tmp))
        prover.check_version()
        prover.check_assets()
        prover.check_service()
        if not args.skip_slow:
            prover.check_train_and_classify()
            prover.check_worker_processes()
        prover.check_gui_offscreen()
        prover.check_gui_x11()
        prover.check_writes()
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
