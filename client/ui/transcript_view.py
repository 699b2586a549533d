"""The live transcript: segments upserted by `segment_id` and shown in time order, each under
its speaker's name in that speaker's colour; text still being transcribed (`completed` false) in
grey italics. It follows the end while the user is at the end; once they scroll up it stays put
and shows a "Jump to end" button instead."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from client.ui.colours import speaker_colour
from client.ui.theme import is_dark, muted_colour

# Near enough to the bottom (pixels) to count as "at the end": a wheel notch is about 3 lines.
_AT_END_SLACK = 8


def clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class TranscriptView(QWidget):
    """`upsert(segments)` takes segment objects as the API and `/ws` give them (dicts)."""

    follow_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._segments: dict[str, dict[str, Any]] = {}
        self._following = True
        self._rendering = False  # our own scroll moves while redrawing are not the user's
        self.text = QTextBrowser(self)
        self.text.setObjectName("transcript")
        self.text.setOpenLinks(False)
        self.jump = QPushButton("Jump to end ↓", self)
        self.jump.setObjectName("jumpToEnd")
        self.jump.hide()
        self.jump.clicked.connect(self.jump_to_end)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addWidget(self.jump, 0, Qt.AlignmentFlag.AlignRight)
        bar = self.text.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        # Many small updates arrive together: redraw once per burst.
        self._redraw = QTimer(self, singleShot=True, interval=60)
        self._redraw.timeout.connect(self._render)

    @property
    def following(self) -> bool:
        return self._following

    def segments(self) -> list[dict[str, Any]]:
        return sorted(self._segments.values(), key=lambda s: (float(s.get("start") or 0), str(s["segment_id"])))

    def clear(self) -> None:
        self._segments.clear()
        self._following = True
        self.jump.hide()
        self._render()

    def upsert(self, segments: Iterable[Mapping[str, Any]]) -> None:
        for segment in segments:
            self._segments[str(segment["segment_id"])] = dict(segment)
        self._redraw.start()

    def flush(self) -> None:
        """Draw now (the screenshot script and tests do not wait for the redraw timer)."""
        self._redraw.stop()
        self._render()

    def jump_to_end(self) -> None:
        self._following = True
        self.jump.hide()
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())
        self.follow_changed.emit(True)

    def scroll_to(self, seconds: float) -> None:
        """Show the segment said at `seconds` (a search result) and stop following the end."""
        self.flush()
        starts = [float(s.get("start") or 0) for s in self.segments()]
        index = max((i for i, start in enumerate(starts) if start <= seconds + 0.01), default=0)
        self._following = False
        self.jump.show()
        self.text.scrollToAnchor(f"s{index}")
        self.follow_changed.emit(False)

    def _scrolled(self, value: int) -> None:
        if self._rendering:
            return
        bar = self.text.verticalScrollBar()
        following = value >= bar.maximum() - _AT_END_SLACK
        if following != self._following:
            self._following = following
            self.jump.setVisible(not following)
            self.follow_changed.emit(following)

    def _render(self) -> None:
        app = QApplication.instance()
        dark = isinstance(app, QApplication) and is_dark(app)
        muted = muted_colour(app) if isinstance(app, QApplication) else "#6b7282"
        blocks = []
        previous: str | None = None
        for index, segment in enumerate(self.segments()):
            speaker = segment.get("speaker") or "Unknown speaker"
            text = html.escape(str(segment.get("text") or "").strip())
            if speaker != previous:
                colour = speaker_colour(speaker, dark)
                blocks.append(
                    f'<p style="margin-top:10px;margin-bottom:0"><b style="color:{colour}">{html.escape(speaker)}</b>'
                    f' <span style="color:{muted}">{clock(float(segment.get("start") or 0))}</span></p>'
                )
                previous = speaker
            anchor = f'<a name="s{index}"></a>'
            if segment.get("completed"):
                blocks.append(f'<p style="margin:0">{anchor}{text}</p>')
            else:
                blocks.append(f'<p style="margin:0">{anchor}<i style="color:{muted}">{text}</i></p>')
        bar = self.text.verticalScrollBar()
        kept = bar.value()
        self._rendering = True
        try:
            self.text.setHtml("".join(blocks))
            bar.setValue(bar.maximum() if self._following else min(kept, bar.maximum()))
        finally:
            self._rendering = False
