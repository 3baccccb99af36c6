"""Which install role brings a library, for a one-line error when a command needs one that is missing.

``pip install .`` installs everything; a recording station, a server or a trainer installs only its
role's requirements (``requirements/<role>.txt``, written from pyproject.toml's extras). A command
that reaches for a library its machine's role leaves out stops with one line naming what to
install, instead of a traceback.
"""

from __future__ import annotations

#: Top-level module -> (what it is for dicebox, the role that brings it, the distribution).
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "PyQt5": ("the window (PyQt5)", "station", "PyQt5"),
    "flask": ("the sensory service (Flask)", "server", "flask"),
    "werkzeug": ("the sensory service (Flask)", "server", "flask"),
    "waitress": ("the sensory service (waitress)", "server", "waitress"),
    "swagger_ui_bundle": ("the API docs page (swagger-ui-bundle)", "server", "swagger-ui-bundle"),
    "pika": ("RabbitMQ (pika)", "server", "pika"),
    "tensorflow": ("TensorFlow", "trainer", "tensorflow-cpu"),
    "keras": ("TensorFlow (Keras)", "trainer", "tensorflow-cpu"),
    "onnxruntime": ("onnxruntime", "station", "onnxruntime"),
    "onnx": ("the onnx package", "trainer", "onnx"),
    "ai_edge_litert": ("LiteRT (ai-edge-litert)", "", "ai-edge-litert"),
    "matplotlib": ("matplotlib (the demo's plot)", "", "matplotlib"),
}


#: dicebox's own packages that setup.py maps in from the checkout's top-level folders.
MAPPED_PACKAGES = ("dicebox.camera", "dicebox.gui", "dicebox.assets")


def missing_dependency(exc: ModuleNotFoundError, command: str) -> str | None:
    """One line telling what to install for ``exc``, or None when it is not one of dicebox's libraries."""
    if (exc.name or "") in MAPPED_PACKAGES:
        # Run from a source checkout that was never installed: camera/ and gui/ join the package
        # only through the install's mapping (setup.py), which an editable install keeps live.
        return (
            f"dicebox {command} needs {exc.name}, which this checkout has not installed: "
            "pip install -e . in the checkout (or pip install .)"
        )
    module = (exc.name or "").split(".")[0]
    if module not in PROVIDERS:
        return None
    what, role, distribution = PROVIDERS[module]
    how = f"pip install -r requirements/{role}.txt (the {role} role) or " if role else ""
    return (
        f"dicebox {command} needs {what}, which this install leaves out: {how}pip install {distribution}"
        f" in this environment; pip install . installs everything"
    )
