"""``dicebox demo --gui``: the demo running with the window open, so a person can watch it."""

from __future__ import annotations

import threading

from PyQt5.QtCore import QObject, QThreadPool, QTimer, pyqtSignal
from PyQt5.QtWidgets import QMessageBox

from dicebox.config import load_config


class DemoBridge(QObject):
    """Carries the demo thread's news to the UI thread."""

    said = pyqtSignal(str)
    output = pyqtSignal(str)  # a line of the demo's training processes
    service = pyqtSignal(str, str)
    event = pyqtSignal(dict)
    finished = pyqtSignal(object, str)


def run_demo_with_window(options, *, close_when_done: bool = False) -> int:
    """Run the demo with the window open; it stays open at the end unless ``close_when_done``."""
    from dicebox.demo.report import write_report
    from dicebox.demo.run import Demo, DemoStopped
    from dicebox.session.runs import RunFollowed

    from .app import build_window
    from .background import run_in_background
    from .evolution_panel import EvolutionPanel
    from .qt_platform import application

    app = application()
    config = load_config(data_dir=options.out / "data")
    window = build_window(config)
    window.setWindowTitle("dicebox — demo")
    window.show()
    bridge = DemoBridge()
    panel = window.panel_of(EvolutionPanel)
    window.tabs.setCurrentWidget(panel)
    demo = Demo(options, say=bridge.said.emit, terminal_progress=False,
                on_service=bridge.service.emit, on_event=bridge.event.emit, keep_service=True,
                on_output=bridge.output.emit)
    outcome = {"code": 0}

    def say(text: str) -> None:
        print(text, flush=True)
        window.statusBar().showMessage(text.strip())
        window.service_log.appendPlainText(text)

    def connect(url: str, key: str) -> None:
        window.link.connect_remote(url, key)
        # A scene the demo measures its accuracy on (never recorded from).
        window.open_source(f"synthetic:dice?fps=30&seed={demo.scenes(2)[0]}")

    def finished(result, error: str) -> None:
        if close_when_done:
            QTimer.singleShot(1000, window.close)
        if error:
            outcome["code"] = 130 if error == "stopped" else 1
            say(f"demo {error}")
            return
        files = write_report(result, options)
        say(f"accuracy on fresh frames: {result.accuracy:.1%}; report in {files[0]}")
        window.labels.select_name("3")
        window.classify.use_model(config.weights_dir / "champion")
        panel.show_bundle(config.weights_dir / "champion", "trained champion")
        box = QMessageBox(QMessageBox.Information, "Demo finished",
                          f"Accuracy on {sum(map(sum, result.confusion))} fresh frames: {result.accuracy:.1%}\n"
                          f"Everything is in {options.out}", QMessageBox.Ok, window)
        box.setModal(False)
        box.show()
        window.demo_result_box = box

    bridge.said.connect(say)
    bridge.output.connect(window.service_log.appendPlainText)  # the status bar keeps the demo's own steps
    bridge.service.connect(connect)
    bridge.event.connect(panel.handle_event)

    def follow_champion(event) -> None:
        # The live view follows the evolution's champion from the moment the run starts.
        if isinstance(event, RunFollowed):
            run_in_background(window.models.follow_champion)

    panel.runEvent.connect(follow_champion)
    bridge.finished.connect(finished)

    def work() -> None:
        try:
            bridge.finished.emit(demo.run(), "")
        except DemoStopped:
            bridge.finished.emit(None, "stopped")
        except Exception as exc:  # noqa: BLE001 - shown in the window and the terminal
            bridge.finished.emit(None, f"failed: {exc}")

    thread = threading.Thread(target=work, name="dicebox-demo", daemon=True)
    QTimer.singleShot(0, thread.start)
    app.aboutToQuit.connect(demo.stop)
    app.exec_()
    demo.stop()
    thread.join(timeout=60)
    QThreadPool.globalInstance().waitForDone(10_000)
    return outcome["code"]
