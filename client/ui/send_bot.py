"""Send a bot: paste a Google Meet or Teams link (or take it from the clipboard), optionally
name the bot, send. The appliance parses the link (`POST /bots` with `meeting_url`); what it
refuses (a link it cannot read, a meeting that already has a bot, the box full) is shown as it
words it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from client.api import ApplianceClient
from client.links import meeting_link_in
from client.ui import tasks


class SendBot(QWidget):
    """Emits `sent(meeting)` (the meeting object `POST /bots` answered) once the bot is on its way."""

    sent = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api: ApplianceClient | None = None
        self.link = QLineEdit(self)
        self.link.setObjectName("link")
        self.link.setPlaceholderText("https://meet.google.com/abc-defg-hij or a Teams meeting link")
        self.link.returnPressed.connect(self.send)
        paste = QPushButton("Paste from clipboard", self)
        paste.setObjectName("paste")
        paste.clicked.connect(self.paste)
        self.bot_name = QLineEdit(self)
        self.bot_name.setObjectName("botName")
        self.bot_name.setPlaceholderText("Vomeet Notetaker (optional)")
        self.send_button = QPushButton("Send bot", self)
        self.send_button.setObjectName("send")
        self.send_button.clicked.connect(self.send)
        self.message = QLabel(self)
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        link_row = QHBoxLayout()
        link_row.addWidget(self.link, 1)
        link_row.addWidget(paste)
        form = QFormLayout()
        form.addRow("Meeting link", link_row)
        form.addRow("Bot name", self.bot_name)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>Send a bot</h2>", self))
        layout.addWidget(QLabel("The bot joins the meeting, waits to be admitted, and transcribes it; "
                                "the transcript appears under Meetings as it is spoken.", self))
        layout.addLayout(form)
        layout.addWidget(self.send_button)
        layout.addWidget(self.message)
        layout.addStretch()

    def paste(self) -> None:
        link = meeting_link_in(QGuiApplication.clipboard().text())
        if link:
            self.link.setText(link)
            self._say("", error=False)
        else:
            self._say("The clipboard holds no Meet, Teams or Zoom link: copy the meeting's link first.", error=True)

    def send(self) -> None:
        api, url = self.api, self.link.text().strip()
        if api is None:
            return
        if not url:
            self._say("Paste the meeting's link first.", error=True)
            return
        name = self.bot_name.text().strip() or None
        self.send_button.setEnabled(False)
        self._say("Sending…", error=False)
        tasks.run(lambda: api.send_bot(url, bot_name=name), self._sent, self._failed)

    def _sent(self, meeting: dict[str, Any]) -> None:
        self.send_button.setEnabled(True)
        self._say(f"The bot is on its way to {meeting.get('native_meeting_id')} ({meeting.get('platform')}).",
                  error=False)
        self.link.clear()
        self.sent.emit(meeting)

    def _failed(self, exc: Exception) -> None:
        self.send_button.setEnabled(True)
        self._say(str(exc), error=True)

    def _say(self, text: str, error: bool) -> None:
        self.message.setStyleSheet("color: #c0392b" if error else "")
        self.message.setText(text)
