"""Which sensory service the window talks to: a one-click local one, or a remote one."""

from __future__ import annotations

from PyQt5.QtCore import QObject, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QPainter
from PyQt5.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from dicebox.client import SensoryClient, ServiceUnavailable, Unauthorized
from dicebox.config import Config
from dicebox.local_service import LocalService

from .workers import run_in_background


class ServiceLink(QObject):
    """The current service: starts/stops the local one, validates a remote one, watches health."""

    connected = pyqtSignal(object)  # SensoryClient
    disconnected = pyqtSignal(str)  # why
    healthChanged = pyqtSignal(bool)
    logLine = pyqtSignal(str)
    failed = pyqtSignal(str, str)  # title, message for a dialog

    def __init__(self, config: Config, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.local: LocalService | None = None
        self.client: SensoryClient | None = None
        self.kind = "none"
        self.healthy = False
        self._health_timer = QTimer(self)
        self._health_timer.setInterval(2000)
        self._health_timer.timeout.connect(self._check_health)
        self._checking = False
        self._misses = 0

    @property
    def url(self) -> str:
        return self.client.base_url if self.client is not None else ""

    # Local ----------------------------------------------------------------------------------
    def start_local(self) -> None:
        """Launch ``dicebox serve`` on a free port with the user's data folder (in the background)."""
        self.stop_local()
        self.local = LocalService(self.config.home, config_file=self.config.source,
                                  on_log=self.logLine.emit)
        service = self.local
        run_in_background(service.start, on_done=lambda url: self._local_started(service, url),
                          on_error=lambda msg: self.failed.emit("Local service did not start", msg))

    def _local_started(self, service: LocalService, url: str) -> None:
        if service is not self.local:
            return
        self.kind = "local"
        self._use(SensoryClient(url, self.config.server.api_access_key,
                                api_version=self.config.server.api_version, retries=0, timeout=5))

    def stop_local(self) -> None:
        if self.local is not None:
            local, self.local = self.local, None
            local.stop()
            if self.kind == "local":
                self._drop("local service stopped")

    # Remote ---------------------------------------------------------------------------------
    def connect_remote(self, url: str, key: str) -> None:
        """Check a remote service (reachable, key accepted) off the UI thread, then use it."""
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            self.failed.emit("Cannot connect", f"{url!r} is not an http:// or https:// address")
            return
        client = SensoryClient(url, key.strip(), api_version=self.config.server.api_version, retries=0, timeout=5)

        def check() -> SensoryClient:
            if not client.health():
                raise ServiceUnavailable(f"no dicebox service answers at {url}")
            try:
                client.datasets()
            except Unauthorized:
                raise Unauthorized("the service refused the API key") from None
            return client

        def done(ok_client: SensoryClient) -> None:
            self.stop_local()
            self.kind = "remote"
            self._use(ok_client)

        def error(message: str) -> None:
            self.failed.emit("Cannot connect", message)

        run_in_background(check, on_done=done, on_error=error)

    # Common ---------------------------------------------------------------------------------
    def _use(self, client: SensoryClient) -> None:
        self.client = client
        self.healthy = True
        self.healthChanged.emit(True)
        self._health_timer.start()
        self.connected.emit(client)

    def _drop(self, why: str) -> None:
        self.client = None
        self.kind = "none"
        self._health_timer.stop()
        if self.healthy:
            self.healthy = False
            self.healthChanged.emit(False)
        self.disconnected.emit(why)

    def _check_health(self) -> None:
        if self.client is None or self._checking:
            return
        self._checking = True
        client = self.client

        def done(ok: bool) -> None:
            self._checking = False
            # One slow answer (a busy service) is not an outage: two misses in a row are.
            self._misses = 0 if ok else self._misses + 1
            healthy = ok or self._misses < 2
            if client is self.client and healthy != self.healthy:
                self.healthy = healthy
                self.healthChanged.emit(healthy)

        run_in_background(client.health, on_done=done, on_error=lambda _m: done(False))

    def shutdown(self) -> None:
        self._health_timer.stop()
        if self.local is not None:
            self.local.stop()
            self.local = None


class HealthLight(QWidget):
    """A small round light: green healthy, red unreachable, grey not connected."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(14, 14)
        self.state: bool | None = None

    def set_state(self, state: bool | None) -> None:
        self.state = state
        self.setToolTip({True: "service healthy", False: "service unreachable", None: "not connected"}[state])
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        colour = {True: QColor(60, 200, 90), False: QColor(220, 60, 50), None: QColor(140, 140, 140)}[self.state]
        painter.setBrush(colour)
        painter.setPen(colour.darker(140))
        painter.drawEllipse(1, 1, 12, 12)


class ServiceBar(QWidget):
    """Toolbar strip: health light, address, spool count, local start/stop, remote connect."""

    def __init__(self, link: ServiceLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.light = HealthLight()
        self.address = QLabel("not connected")
        self.spool = QLabel("spool: 0")
        self.spool.setToolTip("frames recorded and kept on this computer until the service has them")
        self.local_button = QPushButton("Start local service")
        self.local_button.setObjectName("startLocalService")
        self.remote_button = QPushButton("Connect to…")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for widget in (self.light, self.address, self.spool, self.local_button, self.remote_button):
            layout.addWidget(widget)
        self.local_button.clicked.connect(self._toggle_local)
        self.remote_button.clicked.connect(self._ask_remote)
        link.healthChanged.connect(lambda ok: self.light.set_state(ok if link.client else None))
        link.connected.connect(self._refresh)
        link.disconnected.connect(self._refresh)
        self._refresh()

    def _toggle_local(self) -> None:
        if self.link.local is not None:
            self.link.stop_local()
        else:
            self.local_button.setText("Starting…")
            self.local_button.setEnabled(False)
            self.link.start_local()
            QTimer.singleShot(0, self._refresh_later)

    def _refresh_later(self) -> None:
        if self.link.client is None and self.link.local is not None:
            QTimer.singleShot(200, self._refresh_later)
        else:
            self._refresh()

    def _refresh(self, *_args) -> None:
        link = self.link
        self.local_button.setEnabled(True)
        self.local_button.setText("Stop local service" if link.local is not None else "Start local service")
        if link.client is None:
            self.address.setText("not connected")
            self.light.set_state(None)
        else:
            self.address.setText(f"{link.kind}: {link.url}")
            self.light.set_state(link.healthy)

    def set_spool(self, pending: int, rejected: int) -> None:
        text = f"spool: {pending}"
        if rejected:
            text += f" ({rejected} refused)"
        self.spool.setText(text)

    def _ask_remote(self) -> None:
        dialog = RemoteDialog(self.link.config, self)
        if dialog.exec_() == QDialog.Accepted:
            self.link.connect_remote(dialog.url.text(), dialog.key.text())


class RemoteDialog(QDialog):
    def __init__(self, config: Config, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a sensory service")
        self.url = QLineEdit(config.sensory_url)
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.Password)
        self.key.setPlaceholderText("API-ACCESS-KEY of that service")
        form = QFormLayout(self)
        form.addRow("Address", self.url)
        form.addRow("API key", self.key)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class ServiceLog(QPlainTextEdit):
    """The local service's output, newest at the bottom."""

    def __init__(self, link: ServiceLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(2000)
        self.setPlaceholderText("The local service's log appears here once it runs.")
        link.logLine.connect(self.appendPlainText)

