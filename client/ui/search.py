"""Search the user's own transcripts (`GET /search`): each result shows the meeting, the time
offset, the speaker and the snippet with the matched words in bold; opening one shows that
meeting's transcript at that moment."""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from client.api import ApplianceClient
from client.ui import tasks
from client.ui.transcript_view import clock

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def snippet_html(snippet: str) -> str:
    """The API marks matches as `**word**` in plain text: escape it, then bold the matches."""
    return _BOLD.sub(r"<b>\1</b>", html.escape(snippet))


def meeting_label(result: dict[str, Any]) -> str:
    return str(result.get("meeting_name") or result.get("native_meeting_id") or f"meeting {result.get('meeting_id')}")


class Search(QWidget):
    """Emits `open_at(result)` for the result the user opens (it carries `meeting_id` and `start`)."""

    open_at = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api: ApplianceClient | None = None
        self.query = QLineEdit(self)
        self.query.setObjectName("query")
        self.query.setPlaceholderText('Words to find, "a phrase", or budg* for a prefix')
        self.query.returnPressed.connect(self.search)
        go = QPushButton("Search", self)
        go.clicked.connect(self.search)
        self.results = QListWidget(self)
        self.results.setObjectName("results")
        self.results.setWordWrap(True)
        self.results.itemActivated.connect(self._opened)
        self.message = QLabel(self)
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.query, 1)
        row.addWidget(go)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>Search transcripts</h2>", self))
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.results, 1)
        self._found: list[dict[str, Any]] = []

    def search(self) -> None:
        api, words = self.api, self.query.text().strip()
        if api is None or not words:
            return
        self.message.setText("Searching…")
        tasks.run(lambda: api.search(words), self.show_results, self._failed)

    def show_results(self, results: list[dict[str, Any]]) -> None:
        self._found = list(results)
        self.results.clear()
        for result in self._found:
            item = QListWidgetItem(self.results)
            label = QLabel(
                f"<b>{html.escape(meeting_label(result))}</b> at {clock(float(result.get('start') or 0))}"
                f" — {html.escape(str(result.get('speaker') or 'Unknown speaker'))}<br>"
                f"{snippet_html(str(result.get('snippet') or ''))}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(6, 4, 6, 4)
            item.setSizeHint(label.sizeHint())
            item.setData(Qt.ItemDataRole.UserRole, self.results.count() - 1)
            self.results.setItemWidget(item, label)
        self.message.setText(f"{len(self._found)} found" if self._found else "Nothing found.")

    def found(self) -> list[dict[str, Any]]:
        return list(self._found)

    def _opened(self, item: QListWidgetItem) -> None:
        index = int(item.data(Qt.ItemDataRole.UserRole))
        self.open_at.emit(self._found[index])

    def _failed(self, exc: Exception) -> None:
        self.message.setText(str(exc))
