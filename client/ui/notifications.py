"""Notifications (a bot was admitted, a meeting ended): the system tray's message where the
desktop has a tray, else a banner at the top of the window. `history` keeps every notice of
the session in order (both paths append to it)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSystemTrayIcon, QWidget

BANNER_SHOWN_MS = 15_000


class Banner(QWidget):
    """The in-window notice, for desktops without a tray."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        close = QPushButton("Dismiss", self)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.setStyleSheet("#banner { background: palette(highlight); }"
                           " #banner QLabel { color: palette(highlighted-text); }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # a plain QWidget ignores background otherwise
        self._timer = QTimer(self, singleShot=True, interval=BANNER_SHOWN_MS)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_notice(self, title: str, text: str) -> None:
        self.label.setText(f"<b>{title}</b> — {text}")
        self.show()
        self._timer.start()


class Notifier:
    def __init__(self, banner: Banner, icon: QIcon, use_tray: bool | None = None) -> None:
        self.banner = banner
        self.history: list[tuple[str, str]] = []
        tray = QSystemTrayIcon.isSystemTrayAvailable() if use_tray is None else use_tray
        self.tray: QSystemTrayIcon | None = None
        if tray:
            self.tray = QSystemTrayIcon(icon, banner)
            self.tray.setToolTip("Vomeet")
            self.tray.show()

    def notify(self, title: str, text: str) -> None:
        self.history.append((title, text))
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10_000)
        else:
            self.banner.show_notice(title, text)
