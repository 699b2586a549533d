"""One live feed (`client.live.LiveFeed`) per meeting that has a bot, re-emitted as Qt signals:
the feeds' callbacks run on their own threads, and these signals reach the windows on the GUI
thread. Status changes become notifications here (admitted, ended), whichever meeting is open."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from client.api import ApplianceClient
from client.live import LiveFeed, LiveTranscript, notification_for
from client.trust import pinned_context


class LiveFeeds(QObject):
    segments = Signal(int, list)  # meeting id, the segments that changed
    status = Signal(int, str)  # meeting id, status
    notice = Signal(str, str)  # title, text
    connection = Signal(int, str, str)  # meeting id, live | reconnecting | error | stopped, detail

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._feeds: dict[int, LiveFeed] = {}

    def follow(self, api: ApplianceClient, meeting: dict[str, Any]) -> None:
        """Start following `meeting` (no-op when already followed)."""
        meeting_id = int(meeting["id"])
        if meeting_id in self._feeds:
            return
        title = str((meeting.get("data") or {}).get("name") or meeting.get("native_meeting_id"))

        def on_status(status: str, reason: str | None) -> None:
            self.status.emit(meeting_id, status)
            text = notification_for(status, reason)
            if text is not None:
                self.notice.emit(title, text)

        feed = LiveFeed(
            lambda: api.ws_url, api.token, pinned_context(api.appliance.pins), meeting_id, LiveTranscript(),
            on_segments=lambda changed: self.segments.emit(meeting_id, changed),
            on_status=on_status,
            on_connection=lambda state, detail: self.connection.emit(meeting_id, state, detail),
        )
        self._feeds[meeting_id] = feed
        feed.start()

    def following(self) -> list[int]:
        return sorted(self._feeds)

    def drop(self, meeting_id: int) -> None:
        feed = self._feeds.pop(meeting_id, None)
        if feed is not None:
            feed.stop()

    def stop_all(self) -> None:
        for meeting_id in list(self._feeds):
            self.drop(meeting_id)
