"""The user's calendar connections (`GET /calendars`): kind, last and next sync, last error; and
"Connect Google Calendar", which runs client/google_signin.py off the GUI thread (the system
browser opens at Google's consent page) and shows the outcome in words."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from client.api import ApplianceClient
from client.google_signin import Opener, sign_in_with_google
from client.ui import tasks
from client.ui.meetings import when

COLUMNS = ("Calendar", "Kind", "Last sync", "Next sync", "Last error")
KINDS = {"google": "Google", "microsoft": "Microsoft 365", "ics": "ICS feed", "caldav": "CalDAV"}


class _SystemBrowser(QObject):
    """Opens a URL with QDesktopServices on the GUI thread (the sign-in calls it from a worker)."""

    asked = Signal(str)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.asked.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))

    def __call__(self, url: str) -> bool:
        self.asked.emit(url)  # queued to the GUI thread: this object lives there
        return True


class Calendars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api: ApplianceClient | None = None
        self.open_browser: Opener = _SystemBrowser(self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("calendars")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.connect_google = QPushButton("Connect Google Calendar", self)
        self.connect_google.setToolTip("Sign in with Google in your browser; the appliance then reads your calendar")
        self.connect_google.clicked.connect(self.sign_in_google)
        refresh = QPushButton("Refresh", self)
        refresh.clicked.connect(self.refresh)
        self.message = QLabel(self)
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.connect_google)
        row.addStretch(1)
        row.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>Your calendars</h2>", self))
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self._shown: list[dict[str, Any]] = []

    def refresh(self) -> None:
        api = self.api
        if api is not None:
            tasks.run(api.calendars, self.show_calendars, self._failed)

    def show_calendars(self, calendars: list[dict[str, Any]]) -> None:
        self._shown = list(calendars)
        self.table.setRowCount(len(self._shown))
        for row, calendar in enumerate(self._shown):
            kind = str(calendar.get("kind") or "")
            cells = (calendar.get("name"), KINDS.get(kind, kind), when(calendar.get("last_sync_at")) or "not yet",
                     when(calendar.get("next_sync_at")), calendar.get("last_error") or "")
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(str(text or "")))
        if not self._shown and not self.message.text():
            self.message.setText("No calendar connected yet.")

    def shown(self) -> list[dict[str, Any]]:
        return list(self._shown)

    def sign_in_google(self) -> None:
        api, opener = self.api, self.open_browser
        if api is None:
            return
        self.connect_google.setEnabled(False)
        self.message.setText("Sign in with Google in the browser window that opened, then come back here…")
        tasks.run(lambda: sign_in_with_google(api, open_browser=opener), self._connected, self._sign_in_failed)

    def _connected(self, connection: dict[str, Any]) -> None:
        self.connect_google.setEnabled(True)
        events = int(connection.get("upcoming_events") or 0)
        self.message.setText(f"Connected {connection.get('name')}: {events} upcoming event{'s' * (events != 1)} read.")
        self.refresh()

    def _sign_in_failed(self, exc: Exception) -> None:
        self.connect_google.setEnabled(True)
        self.message.setText(f"Google Calendar was not connected: {exc}")

    def _failed(self, exc: Exception) -> None:
        self.message.setText(str(exc))
