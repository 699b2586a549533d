"""A user's whole path through the desktop client, against the real appliance (TLS on, announced
by mDNS on loopback) with its own ASR child (real Whisper, tiny.en) and a real bot (Chromium) in a
mock Google Meet: find the appliance, pair, send a bot from a link on the clipboard, get told when
it is admitted, watch both speakers' turns arrive under their names, search for a spoken word and
open the meeting there, export each format, stop the bot and get told the meeting ended."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from tests.client.gui.conftest import UI_TIMEOUT_MS, Announced, paired_window, serving
from tests.conftest import free_port, wait_until
from tests.e2e.test_bot_transcripts import turns_found
from tests.mock_meetings.fixtures import mock_control, mock_meetings  # noqa: F401 (fixtures)
from tests.mock_meetings.server import MockMeetingServer
from tests.tls_helpers import TlsAppliance

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]
TURNS = (
    ("Alice", "Good morning everyone. Let's start with the quarterly budget review."),
    ("Bob", "Thanks. Our marketing spend was lower than planned this quarter."),
)
QUICK = {"waiting_room_timeout_s": 120, "nobody_joined_timeout_s": 120, "left_alone_timeout_s": 120}
FOUND_SHARE = 0.6  # of a turn's words under its speaker (tiny.en mishears a few; a lost turn keeps none)


@pytest.fixture(scope="module")
def asr_box(tmp_path_factory: pytest.TempPathFactory, mock_meetings: MockMeetingServer,  # noqa: F811
            mdns_port: int) -> Iterator[tuple[TlsAppliance, Announced]]:
    with serving(tmp_path_factory.mktemp("gui-journey") / "data", "journey-box", asr_enabled="true",
                 asr_port=str(free_port()), google_meet_base_url=mock_meetings.base_url,
                 teams_base_url=mock_meetings.base_url) as (box, ad):
        wait_until(lambda: httpx.get(f"{box.app.base_url}/readyz").json()["checks"]["asr"]["ok"], 180, 0.5,
                   "the ASR server to load its model")
        yield box, ad


def meet_code() -> str:
    def letters(n: int) -> str:
        return "".join(random.choices(string.ascii_lowercase, k=n))
    return f"{letters(3)}-{letters(4)}-{letters(3)}"


def test_pair_send_watch_search_export_stop(
    qtbot, make_window, asr_box: tuple[TlsAppliance, Announced], mock_control: httpx.Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    _, window = paired_window(qtbot, make_window, asr_box, "journey")
    session = window.session

    # The meeting, with a lobby: the bot waits to be admitted.
    native = meet_code()
    made = mock_control.post("/control/meetings", json={"id": native, "platform": "meet", "variant": "ask",
                                                         "participants": ["Alice", "Bob"]})
    assert made.status_code == 201, made.text

    # Send a bot: a link inside pasted invitation text, taken from the clipboard.
    session.tabs.setCurrentWidget(session.send_bot)
    QGuiApplication.clipboard().setText(f"Join the review: https://meet.google.com/{native} (see you there)")
    qtbot.mouseClick(session.send_bot.findChild(type(session.send_bot.send_button), "paste"),
                     Qt.MouseButton.LeftButton)
    assert session.send_bot.link.text() == f"https://meet.google.com/{native}"
    qtbot.mouseClick(session.send_bot.send_button, Qt.MouseButton.LeftButton)
    view = session.meeting_view
    qtbot.waitUntil(lambda: session.meetings_stack.currentWidget() is view
                    and view.meeting.get("native_meeting_id") == native, timeout=UI_TIMEOUT_MS)
    meeting_id = int(view.meeting["id"])
    mock_control_of = f"/control/meetings/{native}"
    qtbot.waitUntil(lambda: bool(mock_control.get(mock_control_of).json()["lobby"]), timeout=90_000)
    assert mock_control.post(f"{mock_control_of}/admit", json={}).status_code == 200

    qtbot.waitUntil(lambda: any("admitted" in text for _, text in window.notifier.history), timeout=60_000)
    assert window.banner.isVisible() and "admitted" in window.banner.label.text()
    qtbot.waitUntil(lambda: view.status.text() == "active", timeout=UI_TIMEOUT_MS)
    assert view.stop_button.isEnabled()

    for name, text in TURNS:
        event = mock_control.post(f"{mock_control_of}/speak", json={"participant": name, "text": text}).json()
        seq = event["seq"]
        qtbot.waitUntil(lambda seq=seq: any(e["seq"] == seq and e["played"]
                                            for e in mock_control.get(mock_control_of).json()["speech"]),
                        timeout=int((event["duration_s"] + 20) * 1000))

    def heard() -> bool:
        segments = view.transcript.segments()
        return bool(segments) and min(turns_found(TURNS, segments)) >= FOUND_SHARE

    qtbot.waitUntil(heard, timeout=90_000)
    shown = view.transcript.text.toPlainText()
    assert "Alice" in shown and "Bob" in shown and "budget" in shown.lower(), shown
    assert {s["speaker"] for s in view.transcript.segments()} == {"Alice", "Bob"}

    # Search: the spoken word, in this meeting; opening the result shows the meeting there.
    session.tabs.setCurrentWidget(session.search)
    qtbot.keyClicks(session.search.query, "budget")
    qtbot.keyClick(session.search.query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(r["meeting_id"] == meeting_id for r in session.search.found()), timeout=UI_TIMEOUT_MS)
    hit = next(r for r in session.search.found() if r["meeting_id"] == meeting_id)
    assert hit["speaker"] == "Alice" and "**budget**" in hit["snippet"].lower()
    index = session.search.found().index(hit)
    session.search.results.itemActivated.emit(session.search.results.item(index))
    qtbot.waitUntil(lambda: session.tabs.currentWidget() is session.meetings_stack
                    and session.meetings_stack.currentWidget() is view and not view.transcript.following,
                    timeout=UI_TIMEOUT_MS)
    assert view.transcript.jump.isVisible()

    # Export each format to a file, as the appliance renders it.
    for fmt in ("txt", "srt", "vtt", "json"):
        path = tmp_path / f"meeting.{fmt}"
        view.export_to(fmt, path)
        qtbot.waitUntil(lambda path=path: path.exists() and str(path) in view.message.text(), timeout=UI_TIMEOUT_MS)
    assert "Alice" in (tmp_path / "meeting.txt").read_text() and "budget" in (tmp_path / "meeting.txt").read_text()
    srt = (tmp_path / "meeting.srt").read_text()
    assert srt.startswith("1\n") and " --> " in srt and "budget" in srt
    vtt = (tmp_path / "meeting.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "budget" in vtt
    exported: dict[str, Any] = json.loads((tmp_path / "meeting.json").read_text())
    assert exported["native_meeting_id"] == native and {s["speaker"] for s in exported["segments"]} == {"Alice", "Bob"}

    # A share link on the clipboard, whose public text has the words.
    qtbot.mouseClick(view.findChild(type(view.stop_button), "share"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "/public/transcripts/" in QGuiApplication.clipboard().text(), timeout=UI_TIMEOUT_MS)

    # Stop the bot: the meeting ends, and the user is told.
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.meeting.get("status") == "completed", timeout=60_000)
    qtbot.waitUntil(lambda: any("ended" in text for _, text in window.notifier.history), timeout=UI_TIMEOUT_MS)
    assert "ended" in window.banner.label.text() and not view.stop_button.isEnabled()
