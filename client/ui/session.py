"""The screens of one paired appliance: a header (which appliance, paired as whom, its
certificate fingerprint, whether it answers) over four tabs: Meetings (the list, and a
meeting's transcript), Send a bot, Search, Calendars. It owns the appliance's `ApplianceClient`
and the live feeds of the meetings that have a bot."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from client.api import ApplianceClient
from client.errors import ClientError, ErrorKind
from client.trust import fingerprint_of, grouped
from client.ui import tasks
from client.ui.calendars import Calendars
from client.ui.live_feeds import LiveFeeds
from client.ui.meeting_view import MeetingView
from client.ui.meetings import LIVE, Meetings
from client.ui.search import Search
from client.ui.send_bot import SendBot

TERMINAL = ("completed", "failed")


class Session(QWidget):
    leave = Signal()  # back to the list of appliances
    lost = Signal(object)  # a ClientError that ends the session (revoked, certificate changed)

    def __init__(self, feeds: LiveFeeds, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api: ApplianceClient | None = None
        self.feeds = feeds
        self.header = QLabel(self)
        self.header.setObjectName("header")
        self.header.setWordWrap(True)
        self.connection = QLabel(self)
        self.connection.setObjectName("connection")
        switch = QPushButton("Appliances…", self)
        switch.clicked.connect(self.leave.emit)
        self.meetings = Meetings(self)
        self.meeting_view = MeetingView(self)
        self.meetings_stack = QStackedWidget(self)
        self.meetings_stack.addWidget(self.meetings)
        self.meetings_stack.addWidget(self.meeting_view)
        self.send_bot = SendBot(self)
        self.search = Search(self)
        self.calendars = Calendars(self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.meetings_stack, "Meetings")
        self.tabs.addTab(self.send_bot, "Send a bot")
        self.tabs.addTab(self.search, "Search")
        self.tabs.addTab(self.calendars, "Calendars")
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.connection)
        top.addWidget(switch)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self.meetings.opened.connect(self.open_meeting)
        self.meetings.loaded.connect(self._meetings_loaded)
        self.meetings.failed.connect(self._trouble)
        self.meeting_view.back.connect(lambda: self.meetings_stack.setCurrentWidget(self.meetings))
        self.send_bot.sent.connect(self._sent)
        self.search.open_at.connect(self._open_result)
        feeds.segments.connect(self.meeting_view.segments_arrived)
        feeds.status.connect(self._status)
        feeds.connection.connect(self.meeting_view.feed_state)

    def start(self, api: ApplianceClient) -> None:
        self.api = api
        for screen in (self.meetings, self.meeting_view, self.send_bot, self.search, self.calendars):
            screen.api = api
        self.calendars.refresh()
        pin = api.appliance.pins[0] if api.appliance.pins else ""
        self.describe(api.appliance.name, api.appliance.user, fingerprint_of(pin) if pin else "")
        self.meetings_stack.setCurrentWidget(self.meetings)
        self.tabs.setCurrentWidget(self.meetings_stack)
        self.meetings.start()

    def describe(self, name: str, user: str, fingerprint: str) -> None:
        self.header.setText(
            f"<b>{html.escape(name)}</b> — paired as {html.escape(user or 'you')}"
            f"<br><small>Certificate {grouped(fingerprint) if fingerprint else '(none pinned)'}</small>")
        self.connection.setText("Connected")

    def stop(self) -> None:
        self.meetings.stop()
        self.feeds.stop_all()
        if self.api is not None:
            self.api.close()
            self.api = None

    def open_meeting(self, meeting: dict[str, Any], at_seconds: float | None = None) -> None:
        self.meeting_view.show_meeting(meeting, at_seconds)
        self.meetings_stack.setCurrentWidget(self.meeting_view)
        self.tabs.setCurrentWidget(self.meetings_stack)

    def _sent(self, meeting: dict[str, Any]) -> None:
        if self.api is not None:
            self.feeds.follow(self.api, meeting)
        self.meetings.refresh()
        self.open_meeting(meeting)

    def _open_result(self, result: dict[str, Any]) -> None:
        api = self.api
        if api is None:
            return
        at = float(result.get("start") or 0)
        tasks.run(lambda: api.meeting(int(result["meeting_id"])), lambda m: self.open_meeting(m, at), self._trouble)

    def _meetings_loaded(self, meetings: list[dict[str, Any]]) -> None:
        self.connection.setText("Connected")
        if self.api is None:
            return
        for meeting in meetings:
            if meeting.get("status") in LIVE:
                self.feeds.follow(self.api, meeting)

    def _status(self, meeting_id: int, status: str) -> None:
        self.meetings.status_changed(meeting_id, status)
        self.meeting_view.status_arrived(meeting_id, status)
        if status in TERMINAL:
            self.feeds.drop(meeting_id)

    def _trouble(self, exc: Exception) -> None:
        if isinstance(exc, ClientError) and exc.kind in (ErrorKind.REVOKED, ErrorKind.CERTIFICATE_CHANGED):
            self.lost.emit(exc)
            return
        self.connection.setText("Unreachable" if isinstance(exc, ClientError)
                                and exc.kind is ErrorKind.UNREACHABLE else "Trouble")
        self.connection.setToolTip(str(exc))
