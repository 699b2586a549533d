"""End to end: a meeting on a user's CalDAV calendar (Radicale) with a mock Meet link ends with a
transcript, and the only request the user made is connecting the calendar. The box syncs it,
the scheduler starts the real bot (Chromium) a lead time before the start, the real Whisper
model transcribes what is said; the test only reads, and drives the mock meeting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from asr.wer import wer
from tests.calendars.conftest import USERS, RadicaleServer
from tests.conftest import Appliance, wait_until
from tests.e2e.conftest import meet_code
from tests.mock_meetings.fixtures import appliance_with_asr, mock_control, mock_meetings  # noqa: F401 (fixtures)
from tests.mock_meetings.server import MockMeetingServer
from tests.runtime.conftest import Reaper, pid_of, reaper  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]
SAID = "Good morning everyone. Let's start with the quarterly budget review."
ALICE = next(iter(USERS))


@pytest.fixture
def box(tmp_path: Path, mock_meetings: MockMeetingServer) -> Iterator[Appliance]:  # noqa: F811
    app = appliance_with_asr(tmp_path / "data", mock_meetings)
    yield app
    if app.process and app.process.poll() is None:
        app.stop()
    app.reap_leftovers()


def invitation(code: str, base_url: str, start: datetime) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Vomeet tests//EN", "BEGIN:VEVENT", f"UID:{code}@example.com",
             f"DTSTAMP:{start.strftime(stamp)}", f"DTSTART:{start.strftime(stamp)}",
             f"DTEND:{(start + timedelta(minutes=30)).strftime(stamp)}", "SUMMARY:Budget review",
             f"DESCRIPTION:Join with Google Meet: {base_url}/{code}", f"ORGANIZER:mailto:{ALICE}", "END:VEVENT",
             "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def test_a_calendar_meeting_ends_with_a_transcript(
    box: Appliance, radicale: RadicaleServer, mock_meetings: MockMeetingServer,  # noqa: F811
    mock_control: httpx.Client, reaper: Reaper,  # noqa: F811
) -> None:
    code = meet_code()
    created = mock_control.post("/control/meetings", json={"id": code, "platform": "meet", "variant": "join-now",
                                                            "participants": ["Alice", "Bob"]})
    assert created.status_code == 201, created.text
    calendar_url = radicale.make_calendar(ALICE, f"e2e-{code}")
    # Starts in 30 s: within the 60 s lead, so the bot is due as soon as the calendar is read.
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=30)
    radicale.put(calendar_url, ALICE, "review.ics", invitation(code, mock_meetings.base_url, start))

    _, token = box.new_user(ALICE)
    with box.client(token) as client:
        connected = client.post("/calendars", json={"kind": "caldav", "url": calendar_url, "username": ALICE,
                                                    "password": USERS[ALICE]})
        assert connected.status_code == 201, connected.text

        def bot_in_call() -> dict[str, Any] | None:
            meetings = client.get("/meetings").json()["meetings"]
            found = [m for m in meetings if m["native_meeting_id"] == code]
            if found and found[0].get("bot_container_id"):
                reaper.track(pid_of(found[0]["bot_container_id"]))
            return found[0] if found and found[0]["status"] == "active" else None

        meeting = wait_until(bot_in_call, 120, 0.5, "the calendar's bot to be in the meeting")
        spoken = mock_control.post(f"/control/meetings/{code}/speak", json={"participant": "Alice", "text": SAID})
        assert spoken.status_code in (200, 201), spoken.text
        seq, duration = spoken.json()["seq"], spoken.json()["duration_s"]

        def played() -> bool:
            state = mock_control.get(f"/control/meetings/{code}").json()
            return any(e["seq"] == seq and e["played"] for e in state["speech"])

        wait_until(played, duration + 20, 0.2, "Alice to finish speaking")

        def transcribed() -> list[dict[str, Any]] | None:
            segments = client.get(f"/transcripts/google_meet/{code}").json()["segments"]
            text = " ".join(s["text"] for s in segments)
            return segments if segments and all(s["completed"] for s in segments) and wer(SAID, text) < 0.3 else None

        segments = wait_until(transcribed, 60, 0.5, "what Alice said in the transcript")
        assert {s["speaker"] for s in segments} == {"Alice"}
        assert mock_control.post(f"/control/meetings/{code}/end").status_code in (200, 201)

        def ended() -> dict[str, Any] | None:
            found = client.get(f"/meetings/{meeting['id']}").json()
            return found if found["status"] in ("completed", "failed") else None

        done = wait_until(ended, 60, 0.5, "the bot to leave the ended meeting")
        assert done["status"] == "completed", done
        upcoming = client.get("/calendars").json()["calendars"][0]
        assert upcoming["last_error"] is None and upcoming["upcoming_events"] == 1
