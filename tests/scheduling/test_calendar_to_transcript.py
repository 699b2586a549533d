"""End to end: an event with a (mock) meeting link in a Radicale calendar ends with a transcript,
and nothing but the calendar connection was asked of the API. Real Radicale, the real server and
its scheduler, real Chromium in the mock meeting over WebRTC, the real ASR server and model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.calendars.conftest import USERS, RadicaleServer
from tests.conftest import Appliance, free_port, wait_until
from tests.mock_meetings.fixtures import appliance_with_asr
from tests.mock_meetings.server import MockMeetingServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]
CODE = "cal-endr-bot"
SAID = "Good morning everyone. Let's start with the quarterly budget review."


def invitation(start: datetime, link: str) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Vomeet tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:e2e-{CODE}@example.com\r\nDTSTAMP:{start.strftime(stamp)}\r\n"
        f"DTSTART:{start.strftime(stamp)}\r\nDTEND:{(start + timedelta(minutes=30)).strftime(stamp)}\r\n"
        f"SUMMARY:Budget review\r\nDESCRIPTION:Join: {link}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
def box(tmp_path_factory: pytest.TempPathFactory, mock_meetings: MockMeetingServer) -> Iterator[Appliance]:
    app = appliance_with_asr(tmp_path_factory.mktemp("calendar-e2e") / "data", mock_meetings)
    try:
        yield app
    finally:
        if app.process and app.process.poll() is None:
            app.stop()
        app.reap_leftovers()


def test_a_calendar_event_with_a_meeting_link_ends_with_a_transcript(
    box: Appliance, radicale: RadicaleServer, mock_control: httpx.Client
) -> None:
    created = mock_control.post("/control/meetings", json={
        "id": CODE, "platform": "meet", "variant": "join-now", "participants": ["Alice"]})
    assert created.status_code == 201, created.text
    login = "carol@example.com"
    calendar = radicale.make_calendar(login, f"e2e-{free_port()}")
    # Starts in 30 s: within the lead time (60 s), so its bot is due at the scheduler's next look.
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=30)
    link = f"{box.env['VOMEET_GOOGLE_MEET_BASE_URL']}/{CODE}"
    radicale.put(calendar, login, "budget.ics", invitation(start, link))
    _, key = box.new_user(login)

    with box.client(key) as api:
        connected = api.post("/calendars", json={"kind": "caldav", "url": calendar, "username": login,
                                                 "password": USERS[login]})
        assert connected.status_code == 201, connected.text

        # From here on the test only watches: the meeting, then the transcript.
        def bot_in_call() -> bool:
            return bool(mock_control.get(f"/control/meetings/{CODE}").json()["in_call"])

        wait_until(bot_in_call, 180, 0.5, "the scheduled bot to be in the meeting")
        event = mock_control.post(f"/control/meetings/{CODE}/speak", json={"participant": "Alice", "text": SAID})
        assert event.status_code == 200, event.text

        def transcript_words() -> str:
            answer = api.get(f"/transcripts/google_meet/{CODE}")
            if not answer.is_success:
                return ""
            return " ".join(s["text"] for s in answer.json()["segments"]).lower()

        words = wait_until(lambda: "budget" in (t := transcript_words()) and t, 120, 1.0, "the words in the transcript")
        assert "quarterly" in words or "review" in words, words
        (scheduled,) = api.get("/scheduled").json()["scheduled"]
        assert (scheduled["state"], scheduled["source"], scheduled["title"]) == ("launched", "caldav", "Budget review")
        assert scheduled["meeting_id"] is not None
        api.delete(f"/bots/google_meet/{CODE}")  # tidy up: the bot leaves
