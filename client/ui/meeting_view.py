"""One meeting: its status, the live transcript, Stop bot, export (txt, srt, vtt or json, as the
appliance renders them) and a share link copied to the clipboard. Segments and status changes
come in through `segments_arrived` / `status_arrived` (the live feed's callbacks, re-emitted on
the GUI thread by the main window)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from client.api import ApplianceClient
from client.ui import tasks
from client.ui.meetings import LIVE, status_text, title_of
from client.ui.transcript_view import TranscriptView

FORMATS = ("txt", "srt", "vtt", "json")


class MeetingView(QWidget):
    back = Signal()
    exported = Signal(str)  # the file written

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api: ApplianceClient | None = None
        self.meeting: dict[str, Any] = {}
        self._pending_offset: float | None = None
        back = QPushButton("← Meetings", self)
        back.clicked.connect(self.back.emit)
        self.title = QLabel(self)
        self.title.setObjectName("title")
        self.status = QLabel(self)
        self.status.setObjectName("status")
        self.stop_button = QPushButton("Stop bot", self)
        self.stop_button.setObjectName("stop")
        self.stop_button.clicked.connect(self.stop_bot)
        self.format = QComboBox(self)
        self.format.setObjectName("format")
        self.format.addItems(FORMATS)
        export = QPushButton("Export…", self)
        export.setObjectName("export")
        export.clicked.connect(self._choose_file)
        share = QPushButton("Copy share link", self)
        share.setObjectName("share")
        share.clicked.connect(self.copy_share_link)
        self.message = QLabel(self)
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        self.transcript = TranscriptView(self)
        top = QHBoxLayout()
        top.addWidget(back)
        top.addWidget(self.title, 1)
        top.addWidget(self.status)
        top.addWidget(self.stop_button)
        actions = QHBoxLayout()
        actions.addWidget(QLabel("Export as", self))
        actions.addWidget(self.format)
        actions.addWidget(export)
        actions.addStretch()
        actions.addWidget(share)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(actions)
        layout.addWidget(self.message)

    def show_meeting(self, meeting: dict[str, Any], at_seconds: float | None = None) -> None:
        """Show `meeting` and load its transcript so far; `at_seconds` scrolls there once loaded."""
        self.meeting = dict(meeting)
        self._pending_offset = at_seconds
        self.transcript.clear()
        self.message.setText("")
        self._show_status()
        api = self.api
        if api is not None:
            platform, native, mid = self._key()
            tasks.run(lambda: api.transcript(platform, native, mid), self._loaded, self._failed)

    def segments_arrived(self, meeting_id: int, segments: list[dict[str, Any]]) -> None:
        if meeting_id == self.meeting.get("id"):
            self.transcript.upsert(segments)

    def status_arrived(self, meeting_id: int, status: str) -> None:
        if meeting_id == self.meeting.get("id"):
            self.meeting["status"] = status
            self._show_status()

    def feed_state(self, meeting_id: int, state: str, detail: str) -> None:
        """The live feed's connection: said under the transcript while it is not live."""
        if meeting_id != self.meeting.get("id"):
            return
        if state == "live":
            if self.message.text().startswith("Live transcript"):
                self.message.setText("")
        elif state in ("reconnecting", "stopped", "error"):
            verb = "reconnecting" if state == "reconnecting" else "stopped"
            self.message.setText(f"Live transcript {verb}: {detail}")

    def stop_bot(self) -> None:
        api = self.api
        if api is None:
            return
        platform, native, _ = self._key()
        self.stop_button.setEnabled(False)
        self.message.setText("Asking the bot to leave…")
        tasks.run(lambda: api.stop_bot(platform, native), lambda _: self.message.setText(
            "The bot is leaving; the transcript stays here."), self._failed)

    def export_to(self, fmt: str, path: Path) -> None:
        """Write the transcript in `fmt` to `path` (the step after the file dialog)."""
        api = self.api
        if api is None:
            return
        platform, native, mid = self._key()

        def write() -> str:
            path.write_text(api.export(platform, native, fmt, mid), encoding="utf-8")
            return str(path)

        tasks.run(write, self._exported, self._failed)

    def copy_share_link(self) -> None:
        api = self.api
        if api is None:
            return
        platform, native, _ = self._key()
        tasks.run(lambda: str(api.share_link(platform, native)["url"]), self._shared, self._failed)

    # Answers -------------------------------------------------------------------------------

    def _loaded(self, transcript: dict[str, Any]) -> None:
        self.transcript.upsert(transcript.get("segments") or [])
        self.transcript.flush()
        if self._pending_offset is not None:
            self.transcript.scroll_to(self._pending_offset)
            self._pending_offset = None

    def _exported(self, path: str) -> None:
        self.message.setText(f"Saved {path}")
        self.exported.emit(path)

    def _shared(self, url: str) -> None:
        QGuiApplication.clipboard().setText(url)
        self.message.setText(f"Share link copied: {url}")

    def _failed(self, exc: Exception) -> None:
        self._show_status()
        self.message.setText(str(exc))

    def _choose_file(self) -> None:
        fmt = self.format.currentText()
        suggested = f"{title_of(self.meeting)}.{fmt}"
        chosen, _ = QFileDialog.getSaveFileName(self, "Export transcript", str(Path.home() / suggested))
        if chosen:
            self.export_to(fmt, Path(chosen))

    def _show_status(self) -> None:
        self.title.setText(f"<h2>{html.escape(title_of(self.meeting))}</h2>")
        self.status.setText(status_text(self.meeting))
        self.stop_button.setEnabled(self.meeting.get("status") in LIVE)

    def _key(self) -> tuple[str, str, int | None]:
        mid = self.meeting.get("id")
        return (str(self.meeting.get("platform")), str(self.meeting.get("native_meeting_id")),
                int(mid) if mid is not None else None)
