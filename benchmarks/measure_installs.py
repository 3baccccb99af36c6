"""Install each role into a fresh virtualenv, measure it, and prove that the role's commands work with
only its own dependencies.

    python benchmarks/measure_installs.py [--roles operator,all,station,server,trainer,gpu] [--root DIR]

Each role gets a new venv under ``--root`` (default: a temporary folder, removed at the end unless
``--keep``), built from the committed source (``git archive HEAD``) exactly as README's Install
section says, pinned by requirements/constraints.txt (``--unpinned``: without it). Per role it
prints the size of site-packages (``du``), the number of distributions in it (pip and setuptools,
which every venv has, not counted) and the install time; then it runs the checks below with each
venv's own ``dicebox`` and ``python`` and prints one "ok" line per check (the first failure stops
it with exit status 1):

- every role: the libraries it leaves out cannot be imported there;
- server: ``dicebox serve`` answers, stores 16 images, serves the API docs page; ``dicebox gui`` and
  ``dicebox train`` stop with one line naming the role to install;
- trainer: trains a network on the server's images and exports it as an ONNX kit;
  ``dicebox serve`` stops with one line;
- server: ``dicebox serve --model KIT`` classifies through onnxruntime;
- station: ``dicebox gui --smoke-test`` opens the window (offscreen), frames of the synthetic camera
  are recorded into the server through the GUI's delivery, and the kit classifies through
  onnxruntime without TensorFlow;
- gpu: TensorFlow (with its CUDA wheels, never tensorflow-cpu) trains a network (on the CPU when
  there is no GPU, as here);
- operator and all: everything imports; all adds LiteRT, which runs the kit's TFLite twin.

Downloads come from the package index (the gpu role: about 3 GB of CUDA wheels).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
API_KEY = "measure-installs-key-0123"
ROLES = ("operator", "all", "station", "server", "trainer", "gpu")
# Modules a role must not be able to import.
LEFT_OUT = {
    "station": ("tensorflow", "keras", "flask", "waitress", "pika", "matplotlib"),
    "server": ("tensorflow", "keras", "PyQt5", "matplotlib"),
    "trainer": ("PyQt5", "flask", "waitress", "matplotlib"),
    "gpu": ("PyQt5", "flask", "waitress", "matplotlib"),
    "operator": (),
    "all": (),
}
NEEDED = {
    "operator": ("tensorflow", "PyQt5", "matplotlib", "flask", "pika", "cv2"),
    "all": ("tensorflow", "PyQt5", "matplotlib", "flask", "onnxruntime", "ai_edge_litert", "onnx"),
    "station": ("PyQt5", "onnxruntime", "cv2", "requests"),
    "server": ("flask", "waitress", "swagger_ui_bundle", "pika", "onnxruntime", "cv2"),
    "trainer": ("tensorflow", "keras", "onnx", "pika", "cv2"),
    "gpu": ("tensorflow", "keras", "onnx", "pika", "cv2"),
}


class CheckFailed(AssertionError):
    pass


def ok(message: str) -> None:
    print(f"ok   {message}", flush=True)


def install_commands(role: str, source: Path, pinned: bool) -> list[list[str]]:
    """What README's Install section says to run for ``role`` (pip arguments)."""
    pin = ["-c", str(CONSTRAINTS)] if pinned else []
    if role == "operator":
        return [["install", *pin, str(source)]]
    if role == "all":
        return [["install", *pin, f"{source}[all]"]]
    return [
        ["install", *pin, "-r", str(source / "requirements" / f"{role}.txt")],
        ["install", "--no-deps", str(source)],
    ]


class Venv:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"
        self.dicebox = path / "bin" / "dicebox"

    def site_packages(self) -> Path:
        return next((self.path / "lib").glob("python3*/site-packages"))

    def distributions(self) -> list[str]:
        names = [p.name.split("-")[0].lower() for p in self.site_packages().glob("*.dist-info")]
        return sorted(n for n in names if n not in ("pip", "setuptools"))

    def size_mb(self) -> float:
        out = subprocess.run(["du", "-sk", str(self.site_packages())], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[0]) / 1024

    def py(self, code: str, *args: str, env: dict | None = None, timeout: float = 300) -> str:
        done = subprocess.run(
            [str(self.python), "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env
        )
        if done.returncode != 0:
            raise CheckFailed(
                f"{self.path.name}: python exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def run(
        self, *args: str, env: dict | None = None, timeout: float = 600, expect: int = 0
    ) -> subprocess.CompletedProcess:
        done = subprocess.run([str(self.dicebox), *args], capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != expect:
            raise CheckFailed(
                f"{self.path.name}: dicebox {' '.join(args)} exited {done.returncode} "
                f"(expected {expect}):\n{done.stdout}\n{done.stderr[-3000:]}"
            )
        return done


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "DICEBOX_API_ACCESS_KEY": API_KEY, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONNOUSERSITE": "1", **extra}


def http(url: str, body: dict | None = None) -> tuple[int, bytes, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    request.add_header("API-ACCESS-KEY", API_KEY)
    request.add_header("API-VERSION", "0.3.0")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


class Service:
    """``dicebox serve`` of a role's venv on a free port."""

    def __init__(self, venv: Venv, data: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(venv.dicebox), "serve", "--port", "0", "--data-dir", str(data), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(PYTHONUNBUFFERED="1"),
        )
        lines, deadline = [], time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "listening on " in line:
                self.url = line.rsplit("listening on ", 1)[1].strip()
                return
        self.proc.kill()
        raise CheckFailed("the service did not start:\n" + "".join(lines))

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def one_line_error(venv: Venv, args: list[str], role: str, data: Path) -> None:
    done = venv.run(*args, "--data-dir", str(data), expect=2, env=child_env(QT_QPA_PLATFORM="offscreen"))
    last = done.stderr.strip().splitlines()[-1]
    if "Traceback" in done.stderr or f"requirements/{role}.txt" not in last:
        raise CheckFailed(f"dicebox {args[0]} in the {venv.path.name} venv: {done.stderr}")
    ok(f"{venv.path.name}: dicebox {args[0]} stops with: {last}")


SAMPLE_IMAGES = """
import base64, json, sys
import cv2
from dicebox.camera.synthetic import SyntheticDiceSource
source = SyntheticDiceSource(seed=int(sys.argv[1]), width=120, height=100)
images = []
for seq in range(int(sys.argv[2])):
    frame, label = source.render(seq), source.face_at(seq)
    grey = cv2.cvtColor(cv2.resize(frame, (60, 50), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    images.append((label, base64.b64encode(cv2.imencode(".png", grey)[1].tobytes()).decode()))
print(json.dumps(images))
"""

STATION = """
import json, os, sys
from pathlib import Path
import cv2
from dicebox.camera.synthetic import SyntheticDiceSource
from dicebox.client.http import SensoryClient
from dicebox.client.delivery import FrameDelivery
from dicebox.nets.inference import Classifier

url, spool, kit = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
source = SyntheticDiceSource(seed=9, width=120, height=100)
delivery = FrameDelivery(spool, SensoryClient(url, os.environ["DICEBOX_API_ACCESS_KEY"]))
frames = []
for seq in range(24):
    grey = cv2.cvtColor(cv2.resize(source.render(seq), (60, 50), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    delivery.submit("station_60x50", str(source.face_at(seq)), grey)
    frames.append(grey)
assert delivery.flush(60), delivery.state()
delivery.close()
classifier = Classifier.from_bundle(kit)
results = classifier.classify_batch(frames)
print(json.dumps({"runtime": classifier.runtime, "labels": [r.label for r in results],
                  "loaded": sorted(m for m in ("tensorflow", "keras", "flask", "matplotlib") if sys.modules.get(m))}))
"""


def check_roles(venvs: dict[str, Venv], work: Path) -> None:
    for role, venv in venvs.items():
        code = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
        present = json.loads(venv.py(code, *LEFT_OUT[role]).replace("'", '"'))
        missing = json.loads(venv.py(code, *NEEDED[role]).replace("'", '"'))
        if present or set(missing) != set(NEEDED[role]):
            raise CheckFailed(f"{role}: importable that should not be {present}; importable of the needed {missing}")
        ok(f"{role}: {', '.join(NEEDED[role])} import; {', '.join(LEFT_OUT[role]) or 'nothing'} left out")
        venv.run("--version")
    data = work / "data"
    kit = work / "kit"
    if "server" in venvs:
        server = venvs["server"]
        with Service(server, data) as service:
            status, body, _ = http(service.url + "/health/plain")
            if status != 200 or body.strip() != b"true":
                raise CheckFailed(f"/health/plain answered {status} {body!r}")
            images = json.loads(server.py(SAMPLE_IMAGES, "1", "120"))
            for label, image in images:
                status, body, _ = http(
                    service.url + "/api/sensory/store",
                    {"name": "dice", "width": 60, "height": 50, "category": label, "data": image},
                )
                if status != 200:
                    raise CheckFailed(f"/api/sensory/store answered {status} {body!r}")
            status, page, kind = http(service.url + "/api/v1/docs")
            if (
                status != 200
                or not kind.startswith("text/html")
                or http(service.url + "/api/v1/docs/swagger-ui-bundle.js")[0] != 200
            ):
                raise CheckFailed(f"/api/v1/docs answered {status} {kind}")
            ok(
                f"server: dicebox serve stored {len(images)} images of the synthetic dice camera and serves /api/v1/docs"
            )
        one_line_error(server, ["gui", "--fresh"], "station", data)
        one_line_error(server, ["train", "--dataset", "dice_60x50", "--out", str(work / "no-model")], "trainer", data)
    if "trainer" in venvs and "server" in venvs:
        trainer = venvs["trainer"]
        bundle = work / "bundle"
        started = time.monotonic()
        trainer.run(
            "train",
            "--data-dir",
            str(data),
            "--dataset",
            "dice_60x50",
            "--out",
            str(bundle),
            "--epochs",
            "3",
            "--seed",
            "1",
            "--quiet",
            env=child_env(),
            timeout=1200,
        )
        trainer.run("export-model", str(bundle), "--format", "onnx", "--out", str(kit), env=child_env())
        ok(f"trainer: dicebox train and export-model --format onnx ({time.monotonic() - started:.0f} s)")
        one_line_error(trainer, ["serve", "--port", "0"], "server", data)
        with Service(venvs["server"], data, "--model", str(kit)) as service:
            _, frame = json.loads(venvs["server"].py(SAMPLE_IMAGES, "5", "1"))[0]
            status, body, _ = http(service.url + "/api/classify", {"data": frame})
            _, model, _ = http(service.url + "/api/v1/model")
            runtime = json.loads(model).get("runtime")
            if status != 200 or json.loads(body).get("classification", -1) < 0 or runtime != "onnx":
                raise CheckFailed(f"/api/classify answered {status} {body!r}; model {model!r}")
            ok(f"server: dicebox serve --model KIT classifies through onnxruntime ({json.loads(body)})")
    if "station" in venvs and kit.is_dir():
        station = venvs["station"]
        shown = station.run(
            "gui",
            "--fresh",
            "--smoke-test",
            "--data-dir",
            str(work / "station-data"),
            env=child_env(QT_QPA_PLATFORM="offscreen", DICEBOX_HOME=str(work / "station-home")),
        )
        if "window shown" not in shown.stdout:
            raise CheckFailed(f"station: the window did not show: {shown.stdout} {shown.stderr}")
        ok("station: dicebox gui --smoke-test shows the window")
        with Service(venvs["server"], data, "--model", str(kit)) as service:
            answer = json.loads(station.py(STATION, service.url, str(work / "spool"), str(kit), env=child_env()))
        labels = answer["labels"]
        if answer["runtime"] != "onnx" or answer["loaded"]:
            raise CheckFailed(f"station: {answer}")
        ok(
            f"station: recorded 24 frames into the server; the kit classified them through onnxruntime "
            f"({len(labels)} answers) without {', '.join(LEFT_OUT['station'])}"
        )
        one_line_error(station, ["serve", "--port", "0"], "server", work / "station-data")
    if "gpu" in venvs and "server" in venvs:
        gpu = venvs["gpu"]
        distributions = gpu.distributions()
        if "tensorflow_cpu" in distributions or "tensorflow-cpu" in distributions or "tensorflow" not in distributions:
            raise CheckFailed(f"gpu: distributions {distributions}")
        cuda = [d for d in distributions if d.startswith("nvidia")]
        gpu.run(
            "train",
            "--data-dir",
            str(data),
            "--dataset",
            "dice_60x50",
            "--out",
            str(work / "gpu-bundle"),
            "--epochs",
            "1",
            "--seed",
            "1",
            "--quiet",
            env=child_env(),
            timeout=1200,
        )
        ok(f"gpu: tensorflow with {len(cuda)} CUDA wheels and no tensorflow-cpu trains (on the CPU here)")
    if "all" in venvs and kit.is_dir():
        lite = work / "kit-tflite"
        venvs["all"].run(
            "export-model", str(work / "bundle"), "--format", "tflite", "--out", str(lite), env=child_env()
        )
        answer = venvs["all"].py(
            "import sys; sys.modules['tensorflow'] = None\n"
            "from dicebox.nets.inference import Classifier; import numpy as np\n"
            "c = Classifier.from_bundle(sys.argv[1], runtime='tflite'); print(c.runtime)",
            str(lite),
            env=child_env(),
        )
        if answer.strip() != "tflite":
            raise CheckFailed(f"all: {answer}")
        ok("all: the TFLite kit classifies through LiteRT with TensorFlow unimportable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated, from " + ", ".join(ROLES))
    parser.add_argument("--root", type=Path, help="folder for the venvs (default: a temporary one)")
    parser.add_argument("--python", default=sys.executable, help="the Python the venvs are made with")
    parser.add_argument("--unpinned", action="store_true", help="install without requirements/constraints.txt")
    parser.add_argument("--keep", action="store_true", help="keep the venvs")
    parser.add_argument("--no-checks", action="store_true", help="only install and measure")
    parser.add_argument("--reuse", action="store_true", help="keep venvs already under --root (measure them again)")
    args = parser.parse_args(argv)
    roles = [r for r in args.roles.split(",") if r]
    unknown = set(roles) - set(ROLES)
    if unknown:
        parser.error(f"unknown roles {sorted(unknown)}")
    root = args.root or Path(tempfile.mkdtemp(prefix="dicebox-installs-"))
    root.mkdir(parents=True, exist_ok=True)
    source = root / "src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    venvs, rows = {}, []
    try:
        for role in roles:
            venv = Venv(root / role)
            started, seconds = time.monotonic(), None
            if not (args.reuse and venv.dicebox.exists()):
                shutil.rmtree(venv.path, ignore_errors=True)
                subprocess.run([args.python, "-m", "venv", str(venv.path)], check=True)
                for pip_args in install_commands(role, source, not args.unpinned):
                    subprocess.run(
                        [
                            str(venv.python),
                            "-m",
                            "pip",
                            "install",
                            "--quiet",
                            "--disable-pip-version-check",
                            *pip_args[1:],
                        ],
                        check=True,
                        env=child_env(),
                    )
                seconds = time.monotonic() - started
            venvs[role] = venv
            rows.append((role, venv.size_mb(), len(venv.distributions()), seconds))
            took = "reused" if seconds is None else f"installed in {seconds:.0f} s"
            print(f"{role}: {rows[-1][1]:.0f} MB in site-packages, {rows[-1][2]} distributions, {took}", flush=True)
        print("\n| role | site-packages | distributions | install time |\n| --- | ---: | ---: | ---: |")
        for role, size, count, seconds in rows:
            shown = f"{size / 1024:.2f} GB" if size >= 1024 else f"{size:.0f} MB"
            print(f"| {role} | {shown} | {count} | {'reused' if seconds is None else f'{seconds:.0f} s'} |")
        print(flush=True)
        if not args.no_checks:
            check_roles(venvs, root / "work")
    except CheckFailed as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep and args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
