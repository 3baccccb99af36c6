"""Screenshots of the main window in its main states, for the README.

    python -m dicebox.gui.screenshots [OUT_DIR]      (default: assets/screenshots)

Runs a small demo (synthetic dice camera, local service, evolution, final training) with the
window open at 1280x800, the size a laptop gives it, and grabs it while recording, while
evolution runs, and while it classifies live with the trained champion. Offscreen unless
``QT_QPA_PLATFORM`` says otherwise (``xcb`` on an X display shows it as a desktop does).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SIZE = (1280, 800)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "assets/screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    from PyQt5.QtCore import QTimer

    from dicebox.demo.run import DemoOptions

    from . import demo_window
    from .evolution_panel import EvolutionPanel
    from .qt_platform import application

    app = application()
    taken: dict[str, Path] = {}

    def window():
        return next((w for w in app.topLevelWidgets() if w.windowTitle() == "dicebox — demo" and w.isVisible()),
                    None)

    def grab(w, name: str) -> None:
        path = out / f"{name}.png"
        w.grab().save(str(path))
        taken[name] = path
        print(f"saved {path}", flush=True)

    def step() -> None:
        w = window()
        if w is not None:
            if (w.width(), w.height()) != SIZE:
                w.resize(*SIZE)
            panel = w.panel_of(EvolutionPanel)
            if "recording" not in taken and w.camera.displayed_fps > 20 and len(w.labels.categories) == 6:
                w.tabs.setCurrentIndex(0)
                w.labels.select_name("4")
                w.recorder.update(recording=True, max_fps=10)
                if w.recorder.stats.kept >= 5 and sum(w.labels.counts.values()) > 100:
                    grab(w, "recording")
                    w.recorder.update(recording=False)
            elif "evolution" not in taken and len(panel.plot.generations) >= 2:
                w.tabs.setCurrentWidget(panel)
                grab(w, "evolution")
            elif ("live" not in taken and getattr(w, "demo_result_box", None) is not None
                  and "weights/champion" in w.classify.model.text()  # shown: its counts are the new model's
                  and w.classify.matches + w.classify.mismatches > 60):
                w.demo_result_box.close()
                w.tabs.setCurrentWidget(panel)
                grab(w, "live-classification")
                taken["live"] = out
                QTimer.singleShot(500, w.close)
        QTimer.singleShot(300, step)

    QTimer.singleShot(500, step)
    with tempfile.TemporaryDirectory() as scratch:
        options = DemoOptions(out=Path(scratch) / "demo", per_face=500, scenes=80, misclassified_per_face=20,
                              generations=3, population=3, epochs=2, final_epochs=20, test_frames=60, seed=3)
        code = demo_window.run_demo_with_window(options)
    return 0 if code == 0 and len(taken) >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
