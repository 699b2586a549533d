"""`python -m client.ui.screenshots DIR` (`make client-screenshots`): every screen of the client,
light and dark, as DIR/<screen>-<theme>.png, for docs/client.md.

The windows are the real ones, filled with sample content and no appliance (nothing is listened
to or announced), so the pictures are the same on every machine; tests/client/gui drives the
same windows against a real appliance. Run it with QT_QPA_PLATFORM=offscreen on a headless box."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QWidget

from client.discovery import ApplianceAd
from client.errors import ClientError, ErrorKind
from client.store import ClientStore
from client.ui import theme
from client.ui.pairing_dialog import PairingDialog
from client.ui.window import MainWindow

SIZE = (1000, 660)
FINGERPRINT = hashlib.sha256(b"a sample certificate").hexdigest()
BOX = ApplianceAd(id="3f1c", name="Meeting room box", version="0.1.0", addresses=("192.168.10.20",), port=8056,
                  tls=True, fingerprint=FINGERPRINT, ui_path="/ui")
LAB = ApplianceAd(id="9a07", name="Lab appliance", version="0.1.0", addresses=("192.168.10.31",), port=8056,
                  tls=True, fingerprint=hashlib.sha256(b"another").hexdigest(), ui_path="/ui")
OLD = ApplianceAd(id="77b2", name="Branch office", version="0.1.0", addresses=("10.4.0.8",), port=8056,
                  tls=True, fingerprint=None)
MEETINGS = [
    {"id": 14, "platform": "google_meet", "native_meeting_id": "kfd-qmsz-pwe", "status": "active",
     "data": {"name": "Quarterly budget review"}, "start_time": "2026-12-02T09:30:00"},
    {"id": 13, "platform": "teams", "native_meeting_id": "93817264510", "status": "awaiting_admission",
     "data": {}, "created_at": "2026-12-02T09:28:00"},
    {"id": 12, "platform": "google_meet", "native_meeting_id": "abc-defg-hij", "status": "completed",
     "completion_reason": "stopped", "data": {"name": "Support team stand-up"}, "start_time": "2026-12-01T15:00:00"},
    {"id": 11, "platform": "teams", "native_meeting_id": "40211873365", "status": "failed",
     "completion_reason": "admission_timeout", "data": {"name": "Vendor call"}, "start_time": "2026-11-30T11:00:00"},
]
UPCOMING = [
    {"title": "Design review", "platform": "google_meet", "native_meeting_id": "xqa-btrm-kos", "state": "scheduled",
     "start_at": "2026-12-02T14:00:00+00:00", "join_at": "2026-12-02T13:59:00+00:00", "auto_join": True,
     "reason": "rule: accepted", "override": None},
    {"title": "All hands", "platform": "teams", "native_meeting_id": "51028837461", "state": "scheduled",
     "start_at": "2026-12-03T16:00:00+00:00", "join_at": "2026-12-03T15:59:00+00:00", "auto_join": False,
     "reason": "override: skip", "override": "skip"},
]
TURNS = [
    ("Alice", "Good morning everyone. Let's start with the quarterly budget review.", True),
    ("Bob", "Thanks. Our marketing spend was lower than planned this quarter.", True),
    ("Bob", "About ten percent less, mostly from the events we moved online.", True),
    ("Alice", "That is good news. What happened with the hiring plan for", False),
]
RESULTS = [
    {"meeting_id": 14, "meeting_name": "Quarterly budget review", "native_meeting_id": "kfd-qmsz-pwe", "start": 1.2,
     "speaker": "Alice", "snippet": "Let's start with the quarterly **budget** review."},
    {"meeting_id": 12, "meeting_name": "Support team stand-up", "native_meeting_id": "abc-defg-hij", "start": 754.0,
     "speaker": "Carol", "snippet": "… the tooling **budget** for next year is still open …"},
]
CALENDARS = [
    {"id": 3, "kind": "google", "name": "Google Calendar", "last_sync_at": "2026-12-02T09:25:04+00:00",
     "next_sync_at": "2026-12-02T09:30:04+00:00", "last_error": None},
    {"id": 2, "kind": "ics", "name": "Team holidays", "last_sync_at": "2026-12-02T09:12:40+00:00",
     "next_sync_at": "2026-12-02T09:42:40+00:00",
     "last_error": "the feed answered 503 (Service Unavailable); retrying after 30 minutes"},
]


def segments() -> list[dict[str, Any]]:
    start = 1.2
    made = []
    for n, (speaker, text, done) in enumerate(TURNS):
        made.append({"segment_id": f"s{n}", "start": start, "end": start + 4, "text": text, "speaker": speaker,
                     "completed": done})
        start += 4.5
    return made


def shoot(widget: QWidget, path: Path) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    for _ in range(3):  # layouts and the transcript's redraw settle over a few event loop turns
        app.processEvents()
    widget.grab().save(str(path))


def screens(window: MainWindow) -> dict[str, Callable[[], QWidget]]:
    session = window.session

    def appliances() -> QWidget:
        window.pages.setCurrentWidget(window.appliances)
        return window

    def pairing() -> QWidget:
        dialog = PairingDialog(BOX, window.identity, "alice on laptop-7", "0.1.0", window)
        dialog.show_code("482913", FINGERPRINT)
        dialog.resize(520, 330)
        return dialog

    def pairing_expired() -> QWidget:
        dialog = PairingDialog(BOX, window.identity, "alice on laptop-7", "0.1.0", window)
        dialog.show_failure(ClientError(ErrorKind.PAIRING_EXPIRED, "the request expired; start pairing again"))
        dialog.again.show()
        dialog.resize(520, 220)
        return dialog

    def meetings() -> QWidget:
        window.pages.setCurrentWidget(session)
        session.tabs.setCurrentWidget(session.meetings_stack)
        session.meetings_stack.setCurrentWidget(session.meetings)
        window.notifier.notify("Quarterly budget review", "The bot was admitted to the meeting and is transcribing.")
        return window

    def meeting() -> QWidget:
        window.banner.hide()
        window.pages.setCurrentWidget(session)
        session.tabs.setCurrentWidget(session.meetings_stack)
        session.meetings_stack.setCurrentWidget(session.meeting_view)
        return window

    def send() -> QWidget:
        session.tabs.setCurrentWidget(session.send_bot)
        session.send_bot.link.setText("https://meet.google.com/kfd-qmsz-pwe")
        return window

    def search() -> QWidget:
        session.tabs.setCurrentWidget(session.search)
        return window

    def calendars() -> QWidget:
        session.tabs.setCurrentWidget(session.calendars)
        return window

    return {"appliances": appliances, "pairing": pairing, "pairing-expired": pairing_expired,
            "meetings": meetings, "meeting": meeting, "send": send, "search": search, "calendars": calendars}


def fill(window: MainWindow) -> None:
    listing = window.appliances
    listing.remembered(BOX, "alice@example.com")
    listing.announced(BOX)
    listing.announced(LAB)
    listing.remembered(OLD, "alice@example.com")
    listing.unreachable(OLD.id, "the appliance at 10.4.0.8:8056 is unreachable; check that it is on and that "
                        "this computer is on its network")
    session = window.session
    session.describe(BOX.name, "alice@example.com", FINGERPRINT)
    session.meetings.show_meetings(MEETINGS)
    session.meetings.show_upcoming(UPCOMING)
    session.meeting_view.show_meeting(MEETINGS[0])
    session.meeting_view.transcript.upsert(segments())
    session.search.query.setText("budget")
    session.search.show_results(RESULTS)
    session.calendars.show_calendars(CALENDARS)
    session.calendars.message.setText("Connected Google Calendar: 6 upcoming events read.")


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/client")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory() as config:
        window = MainWindow(ClientStore(Path(config), use_keyring=False), "0.1.0", use_tray=False, discover=False)
        window.resize(*SIZE)
        fill(window)
        window.show()
        for shown in (theme.Theme.LIGHT, theme.Theme.DARK):
            theme.apply(app, shown)
            window.session.meeting_view.transcript.flush()  # its colours follow the theme
            for name, show in screens(window).items():
                widget = show()
                widget.show()
                shoot(widget, out / f"{name}-{shown.value}.png")
                if widget is not window:
                    widget.close()
                print(out / f"{name}-{shown.value}.png")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
