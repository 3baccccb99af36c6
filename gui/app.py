"""Starting the desktop supervised trainer."""

from __future__ import annotations

from PyQt5.QtCore import QThreadPool, QTimer

from dicebox.config import Config

from .main_window import MainWindow
from .qt_platform import application


def build_window(config: Config) -> MainWindow:
    """The main window with every panel composed (used by ``dicebox gui``, the demo and tests)."""
    window = MainWindow(config)
    for factory in _panel_factories():
        widget, title = factory(window)
        window.add_panel(widget, title)
    return window


def _icon():
    """The app icon from dicebox.assets (present in source trees, wheels and frozen bundles)."""
    from importlib import resources

    from PyQt5.QtGui import QIcon

    try:
        path = resources.files("dicebox.assets") / "dicebox.png"
        if path.is_file():
            return QIcon(str(path))
    except (ModuleNotFoundError, OSError):
        pass
    return None


def _panel_factories() -> list:
    from .dataset_panel import dataset_panel
    from .evolution_panel import evolution_panel

    return [evolution_panel, dataset_panel]


def run_gui(config: Config, *, source: str | None = None, local_service: bool = False,
            restore: bool = True, smoke_test: bool = False) -> int:
    """Open the window and run Qt's event loop until it closes.

    ``smoke_test`` prints "window shown" once the window is on screen and quits: installers and
    benchmarks use it to check that the app starts.
    """
    app = application()
    app.setApplicationName("dicebox")
    app.setOrganizationName("dicebox")
    icon = _icon()
    if icon is not None:
        app.setWindowIcon(icon)
    window = build_window(config)
    window.show()
    if smoke_test:
        def shown() -> None:
            if window.isVisible() and window.windowHandle() is not None and window.windowHandle().isExposed():
                print("window shown", flush=True)
                window.close()
            else:
                QTimer.singleShot(20, shown)

        QTimer.singleShot(0, shown)
        status = app.exec_()
        QThreadPool.globalInstance().waitForDone(10_000)
        return status
    # Everything slow (camera, service, TensorFlow) starts after the window is on screen.
    def start() -> None:
        if restore:
            window.restore_session()
        if source:
            window.open_source(source)
        if local_service and window.link.local is None:
            window.link.start_local()

    QTimer.singleShot(0, start)
    status = app.exec_()
    QThreadPool.globalInstance().waitForDone(10_000)
    return status
