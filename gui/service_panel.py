"""Which sensory service the window talks to: a one-click local one, or a remote one."""

from __future__ import annotations

from PyQt5.QtCore import QObject, Qt, pyqtSignal
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

from dicebox.client.http import SensoryClient
from dicebox.client.local_service import LocalService
from dicebox.config import Config
from dicebox.session.service_link import (
    Connected,
    Disconnected,
    Failed,
    HealthChanged,
    LinkEvent,
    LinkState,
    LogLine,
    NoteChanged,
    ServiceLink,
)


class QtServiceLink(QObject):
    """The session's :class:`~dicebox.session.service_link.ServiceLink` seen from the UI thread.

    The link's events (from its threads) are carried here through one queued signal; the state
    each brought is mirrored (``client``, ``kind``, ...) and re-told as the signals views connect
    to, all on the UI thread. Commands go straight to the link.
    """

    event = pyqtSignal(object)  # a LinkEvent, from any thread
    connected = pyqtSignal(object)  # SensoryClient
    disconnected = pyqtSignal(str)  # why
    healthChanged = pyqtSignal(bool)
    logLine = pyqtSignal(str)
    failed = pyqtSignal(str, str)  # title, message for a dialog
    noteChanged = pyqtSignal(str)
    stateChanged = pyqtSignal()  # after any event: the mirrored state changed

    def __init__(self, config: Config, parent: QObject | None = None, *, core: ServiceLink | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.core = core or ServiceLink(config)
        self.state: LinkState = self.core.state
        self.event.connect(self._deliver, Qt.QueuedConnection)
        # One callback object, so shutdown() can take it back (each self.event.emit is a new one), and
        # it forwards nothing once shut down (a health thread may still be finishing an emit).
        self._open = True
        self._forward = self._forward_event
        self.core.events.connect(self._forward)

    @property
    def MAX_RESTARTS(self) -> int:  # noqa: N802 - the link's constant
        return self.core.MAX_RESTARTS

    @property
    def client(self) -> SensoryClient | None:
        return self.state.client

    @property
    def local(self) -> LocalService | None:
        return self.state.local

    @property
    def kind(self) -> str:
        return self.state.kind

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def healthy(self) -> bool:
        return self.state.healthy

    @property
    def note(self) -> str:
        return self.state.note

    @property
    def local_dead(self) -> bool:
        return self.state.local_dead

    def start_local(self) -> None:
        self.core.start_local()

    def stop_local(self) -> None:
        self.core.stop_local()

    def toggle_local(self) -> None:
        self.core.toggle_local()

    def connect_remote(self, url: str, key: str) -> None:
        self.core.connect_remote(url, key)

    def shutdown(self) -> None:
        self._open = False
        self.core.events.disconnect(self._forward)
        self.core.shutdown()

    def _forward_event(self, event: LinkEvent) -> None:
        if self._open:
            self.event.emit(event)

    def _deliver(self, event: LinkEvent) -> None:
        self.state = event.state
        if isinstance(event, Connected):
            self.connected.emit(event.client)
        elif isinstance(event, Disconnected):
            self.disconnected.emit(event.why)
        elif isinstance(event, HealthChanged):
            self.healthChanged.emit(event.healthy)
        elif isinstance(event, NoteChanged):
            self.noteChanged.emit(event.note)
        elif isinstance(event, LogLine):
            self.logLine.emit(event.line)
        elif isinstance(event, Failed):
            self.failed.emit(event.title, event.message)
        self.stateChanged.emit()


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


SPOOL_TIP = "frames recorded and kept on this computer until the service has them"


class ServiceBar(QWidget):
    """Toolbar strip: health light, address, spool count, local start/stop, remote connect; and
    ``notice``, what happened to the service (a restart), for the window's status bar."""

    def __init__(self, link: QtServiceLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.light = HealthLight()
        self.address = QLabel("not connected")
        self.spool = QLabel("spool: 0")
        self.spool.setToolTip(SPOOL_TIP)
        self.local_button = QPushButton("Start local service")
        self.local_button.setObjectName("startLocalService")
        self.remote_button = QPushButton("Connect to…")
        # What was typed last in the Connect dialog (the key only for this session, never on disk).
        self.remote_url = ""
        self.remote_key = ""
        self.notice = QLabel("")
        self.notice.setObjectName("serviceNotice")
        self.notice.setStyleSheet("color: #d08000;")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for widget in (self.light, self.address, self.spool, self.local_button, self.remote_button):
            layout.addWidget(widget)
        # ``notice`` is not in this strip: a long note would push the strip into the toolbar's
        # overflow menu; the window shows it in its status bar.
        self.local_button.clicked.connect(self._toggle_local)
        self.remote_button.clicked.connect(self._ask_remote)
        link.stateChanged.connect(self._refresh)
        self._refresh()

    def _toggle_local(self) -> None:
        self.link.toggle_local()

    def _refresh(self, *_args) -> None:
        link = self.link
        button, enabled = "Start local service", True
        if link.client is not None:
            address, light = f"{link.kind}: {link.url}", link.healthy
            if link.local is not None:
                button = "Stop local service"
        elif link.local is not None and link.local_dead:
            address, light, button = "local service stopped", False, "Restart local service"
        elif link.local is not None:
            address, light, button, enabled = "local service starting…", None, "Starting…", False
            if link.note:
                address, light = "local service stopped — restarting…", False
        else:
            address, light = "not connected", None
        self.address.setText(address)
        self.light.set_state(light)
        self.local_button.setText(button)
        self.local_button.setEnabled(enabled)
        note = link.note
        self.notice.setText(note if len(note) <= 64 else note[:63] + "…")
        self.notice.setToolTip(note)

    def set_spool(self, pending: int, rejected: int, waiting_because: str = "") -> None:
        """Show the frames spooled, those refused, and why frames wait (the last delivery error)."""
        text = f"spool: {pending}"
        if rejected:
            text += f" ({rejected} refused)"
        tip = SPOOL_TIP
        if pending and waiting_because:
            short = waiting_because if len(waiting_because) <= 60 else waiting_because[:59] + "…"
            text += f" waiting: {short}"
            tip += f"\nwaiting because: {waiting_because}"
        self.spool.setText(text)
        self.spool.setToolTip(tip)

    def _ask_remote(self) -> None:
        dialog = self.remote_dialog()
        if dialog.exec_() == QDialog.Accepted:
            self.remote_url, self.remote_key = dialog.url.text().strip(), dialog.key.text()
            self.link.connect_remote(self.remote_url, self.remote_key)

    def remote_dialog(self) -> RemoteDialog:
        """The Connect dialog, filled with what was typed last (or the configured service)."""
        return RemoteDialog(self.remote_url or self.link.config.sensory_url, self.remote_key, self)


class RemoteDialog(QDialog):
    """Address and API key of a remote sensory service."""

    def __init__(self, url: str, key: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a sensory service")
        self.setMinimumWidth(520)
        self.url = QLineEdit(url)
        self.url.setPlaceholderText("http://host:5000")
        self.key = QLineEdit(key)
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

    def __init__(self, link: QtServiceLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(2000)
        self.setPlaceholderText("The local service's log appears here once it runs.")
        link.logLine.connect(self.appendPlainText)
