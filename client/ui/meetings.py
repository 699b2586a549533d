"""The user's meetings, newest first, with their live status (refreshed every few seconds and
at once when the live feed reports a change); opening one shows its transcript. Above them, the
upcoming scheduled meetings (calendars, or bots sent for later: `GET /scheduled`) when the
appliance has any, each with its decision and reason and the user's own choice, which Join /
Don't join / Follow the rules change (`PATCH /scheduled/{id}`; a refusal is shown in its words)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
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
from client.ui import tasks

REFRESH_MS = 5000
COLUMNS = ("Meeting", "Platform", "Status", "Started")
UPCOMING_COLUMNS = ("Upcoming", "Platform", "Starts", "Bot", "Your choice")
# The per-event override's buttons: (PATCH's value, the button) and how the table says each.
CHOICES = (("join", "Join"), ("skip", "Don't join"), (None, "Follow the rules"))
CHOSEN = {"join": "join", "skip": "don't join", None: "follow the rules"}
LIVE = {"requested", "joining", "awaiting_admission", "active", "stopping"}
_PLATFORMS = {"google_meet": "Google Meet", "teams": "Teams", "zoom": "Zoom"}
_STATUSES = {"awaiting_admission": "waiting to be admitted"}


def title_of(meeting: dict[str, Any]) -> str:
    data = meeting.get("data") or {}
    return str(data.get("name") or meeting.get("native_meeting_id") or meeting.get("id"))


def when(stamp: object) -> str:
    """`2026-12-02T09:30:00+00:00` -> `2026-12-02 09:30` (as the appliance wrote it: UTC)."""
    return str(stamp or "")[:16].replace("T", " ")


def bot_plan(scheduled: dict[str, Any]) -> str:
    if scheduled.get("state") != "scheduled":
        return str(scheduled.get("state"))
    if scheduled.get("auto_join"):
        reason = scheduled.get("reason")
        return f"joins at {when(scheduled.get('join_at'))[11:]}" + (f" ({reason})" if reason else "")
    return f"no bot ({scheduled.get('reason') or 'by the rules'})"


def status_text(meeting: dict[str, Any]) -> str:
    status = str(meeting.get("status") or "")
    shown = _STATUSES.get(status, status)
    reason = meeting.get("completion_reason")
    return f"{shown} ({str(reason).replace('_', ' ')})" if reason and status in ("completed", "failed") else shown


class Meetings(QWidget):
    """Emits `opened(meeting)`; `meetings()` is what the table shows."""

    opened = Signal(object)
    loaded = Signal(list)  # each successful refresh's meetings
    failed = Signal(object)  # the ClientError a refresh ran into

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api: ApplianceClient | None = None
        self._meetings: list[dict[str, Any]] = []
        self._loading = False
        self.table = _table(COLUMNS, self)
        self.table.setObjectName("meetings")
        self.table.cellDoubleClicked.connect(lambda row, _column: self._open(row))
        self._scheduled: list[dict[str, Any]] = []
        self.upcoming_panel = QWidget(self)
        self.upcoming = _table(UPCOMING_COLUMNS, self.upcoming_panel)
        self.upcoming.setObjectName("upcoming")
        self.upcoming.setMaximumHeight(150)
        self.choices: dict[str | None, QPushButton] = {}
        choices = QHBoxLayout()
        choices.addWidget(QLabel("For the selected meeting:", self.upcoming_panel))
        for override, label in CHOICES:
            button = QPushButton(label, self.upcoming_panel)
            button.clicked.connect(lambda _=False, override=override: self.choose(override))
            choices.addWidget(button)
            self.choices[override] = button
        choices.addStretch()
        self.choice_message = QLabel(self)  # outside the panel: still seen if the meeting left the list
        self.choice_message.setObjectName("choiceMessage")
        self.choice_message.setWordWrap(True)
        panel = QVBoxLayout(self.upcoming_panel)
        panel.setContentsMargins(0, 0, 0, 0)
        panel.addWidget(self.upcoming)
        panel.addLayout(choices)
        self.upcoming_panel.hide()
        self.message = QLabel(self)
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        open_button = QPushButton("Open transcript", self)
        open_button.clicked.connect(lambda: self._open(self.table.currentRow()))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>Meetings</h2>", self))
        layout.addWidget(self.upcoming_panel)
        layout.addWidget(self.choice_message)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addWidget(open_button, 0, Qt.AlignmentFlag.AlignRight)
        self._timer = QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    def start(self) -> None:
        self.refresh()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def refresh(self) -> None:
        api = self.api
        if api is None or self._loading:
            return
        self._loading = True
        tasks.run(lambda: (api.meetings(), api.upcoming()), self._refreshed, self._failed)

    def _refreshed(self, answers: tuple[list[dict[str, Any]], list[dict[str, Any]] | None]) -> None:
        self._loading = False
        meetings, upcoming = answers
        self.show_meetings(meetings)
        self.show_upcoming(upcoming or [])
        self.loaded.emit(meetings)

    def show_upcoming(self, scheduled: list[dict[str, Any]]) -> None:
        """Scheduled meetings, soonest first (hidden when there are none, or the appliance has none)."""
        self._scheduled = list(scheduled)
        self.upcoming_panel.setVisible(bool(scheduled))
        current = self.upcoming.currentRow()
        self.upcoming.setRowCount(len(scheduled))
        for row, item in enumerate(scheduled):
            cells = (str(item.get("title") or item.get("native_meeting_id")),
                     _PLATFORMS.get(str(item.get("platform")), str(item.get("platform"))),
                     when(item.get("start_at")), bot_plan(item), CHOSEN.get(item.get("override"), ""))
            for column, text in enumerate(cells):
                self.upcoming.setItem(row, column, QTableWidgetItem(text))
        if 0 <= current < len(scheduled):
            self.upcoming.selectRow(current)  # a refresh keeps the row the user picked

    def choose(self, override: str | None) -> None:
        """Set the selected upcoming meeting's override for this user (None: follow the rules)."""
        api, row = self.api, self.upcoming.currentRow()
        if api is None or not 0 <= row < len(self._scheduled):
            self.choice_message.setText("Select an upcoming meeting first.")
            return
        scheduled_id = int(self._scheduled[row]["id"])
        self.choice_message.setText("")
        tasks.run(lambda: api.set_override(scheduled_id, override), self._chosen,
                  lambda exc: self.choice_message.setText(str(exc)))

    def _chosen(self, updated: dict[str, Any]) -> None:
        self.show_upcoming([updated if s.get("id") == updated.get("id") else s for s in self._scheduled])

    def show_meetings(self, meetings: list[dict[str, Any]]) -> None:
        self._meetings = list(meetings)
        self.message.setText("" if meetings else "No meetings yet: send a bot to one.")
        self.table.setRowCount(len(meetings))
        for row, meeting in enumerate(meetings):
            cells = (title_of(meeting), _PLATFORMS.get(str(meeting.get("platform")), str(meeting.get("platform"))),
                     status_text(meeting), when(meeting.get("start_time") or meeting.get("created_at")))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 2 and meeting.get("status") in LIVE:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)

    def meetings(self) -> list[dict[str, Any]]:
        return list(self._meetings)

    def status_changed(self, meeting_id: int, status: str) -> None:
        """From the live feed: show the new status now, without waiting for the next refresh."""
        for meeting in self._meetings:
            if meeting.get("id") == meeting_id:
                meeting["status"] = status
        self.show_meetings(self._meetings)

    def _open(self, row: int) -> None:
        if 0 <= row < len(self._meetings):
            self.opened.emit(self._meetings[row])

    def _failed(self, exc: Exception) -> None:
        self._loading = False
        self.message.setText(str(exc))
        self.failed.emit(exc)


def _table(columns: tuple[str, ...], parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return table
