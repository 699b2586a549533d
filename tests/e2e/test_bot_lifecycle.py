"""A real bot's lifecycle in mock Meet and Teams meetings: lobby, admission, refusals,
timeouts, removal, the end of a meeting, being left alone, stops and crashes."""

from __future__ import annotations

import time

import psutil
import pytest

from tests.conftest import wait_until
from tests.e2e.conftest import Session, statuses
from tests.runtime.conftest import group_members

pytestmark = pytest.mark.slow
QUICK = {"waiting_room_timeout_s": 60, "nobody_joined_timeout_s": 60, "left_alone_timeout_s": 30}


def in_lobby(session: Session) -> bool:
    return bool(session.mock()["lobby"])


def test_meet_ask_to_join_lobby_admitted_then_stopped(start_bot) -> None:
    session: Session = start_bot("google_meet", "ask", bot_name="Vomeet Scribe", automatic_leave=QUICK)
    session.wait("awaiting_admission")
    assert session.mock()["lobby"] == ["Vomeet Scribe"]  # the name it typed
    assert session.status()["status"] == "awaiting_admission"  # not "active" while in the lobby
    session.mock("admit")
    session.wait("active", 30)
    assert session.mock()["in_call"] == ["Vomeet Scribe"]
    wait_until(lambda: any("admitted" in s for s in session.screens()), 15, what="the admitted screenshot")

    started = time.monotonic()
    assert session.client.delete(f"/bots/google_meet/{session.native_id}").status_code == 202
    done = session.wait({"completed", "failed"}, 15)
    assert (done["status"], done["completion_reason"]) == ("completed", "stopped"), done
    assert time.monotonic() - started < 10  # within the stop grace
    # It clicked "Leave call": the meeting saw it go.
    assert session.mock()["clients"] == [{"name": "Vomeet Scribe", "state": "left"}]
    assert statuses(done) == ["requested", "joining", "awaiting_admission", "active", "stopping", "completed"]
    wait_until(lambda: not group_members(session.pid), 15, what="the bot and its Chromium to exit")
    assert "did not leave within" not in session.app.log_path.read_text(errors="replace")
    screens = session.screens()
    assert [s.split("-", 1)[1] for s in screens] == [
        "prejoin.png", "join-clicked.png", "lobby.png", "admitted.png", "left.png"], screens


def test_meet_join_now_goes_active_and_ends_with_the_meeting(start_bot) -> None:
    session: Session = start_bot("google_meet", "join-now", automatic_leave=QUICK)
    done = session.wait("active", 60)
    assert "awaiting_admission" not in statuses(done)  # no lobby in an open meeting
    session.mock("end")
    done = session.wait({"completed", "failed"}, 20)
    assert (done["status"], done["completion_reason"]) == ("completed", "meeting_ended"), done


def test_teams_lobby_admitted_then_removed(start_bot) -> None:
    session: Session = start_bot("teams", "ask", bot_name="Teams Scribe", automatic_leave=QUICK)
    session.wait("awaiting_admission", 60)
    assert session.mock()["lobby"] == ["Teams Scribe"]
    session.mock("admit")
    session.wait("active", 30)
    session.mock("remove")
    done = session.wait({"completed", "failed"}, 20)
    assert (done["status"], done["completion_reason"]) == ("completed", "removed"), done
    assert statuses(done) == ["requested", "joining", "awaiting_admission", "active", "completed"]


@pytest.mark.parametrize("platform", ["google_meet", "teams"])
def test_denied_admission_is_rejected(start_bot, platform: str) -> None:
    session: Session = start_bot(platform, "ask", automatic_leave=QUICK)
    session.wait("awaiting_admission", 60)
    session.mock("deny")
    done = session.wait({"completed", "failed"}, 20)
    assert (done["status"], done["completion_reason"]) == ("completed", "admission_rejected"), done
    assert "active" not in statuses(done)


def test_lobby_timeout(start_bot) -> None:
    session: Session = start_bot("google_meet", "ask", automatic_leave={**QUICK, "waiting_room_timeout_s": 3})
    waiting = session.wait("awaiting_admission", 60)
    done = session.wait({"completed", "failed"}, 20)
    assert (done["status"], done["completion_reason"]) == ("completed", "admission_timeout"), done
    assert waiting["status"] == "awaiting_admission"
    assert "active" not in statuses(done)


@pytest.mark.parametrize("platform", ["google_meet", "teams"])
def test_left_alone_after_the_timeout_and_not_before(start_bot, platform: str) -> None:
    session: Session = start_bot(platform, "join-now", participants=("Alice", "Bob"),
                                 automatic_leave={**QUICK, "left_alone_timeout_s": 4})
    session.wait("active", 60)
    # Everyone drops for a moment and one comes back within the timeout: the bot stays.
    session.mock("leave")
    session.mock("arrive", participants=["Alice"])
    session.mock("leave")
    left_at = time.monotonic()
    session.mock("arrive", participants=["Bob"])
    wait_until(lambda: time.monotonic() - left_at > 5, 10, what="the timeout to pass with Bob back")
    assert session.status()["status"] == "active"
    # Now everyone leaves for good.
    session.mock("leave")
    left_at = time.monotonic()
    done = session.wait({"completed", "failed"}, 30)
    assert (done["status"], done["completion_reason"]) == ("completed", "left_alone"), done
    assert time.monotonic() - left_at >= 4
    assert session.mock()["clients"][0]["state"] == "left"  # it left the call, not just the page


def test_nobody_joined(start_bot) -> None:
    session: Session = start_bot("google_meet", "join-now", participants=(),
                                 automatic_leave={**QUICK, "nobody_joined_timeout_s": 3})
    done = session.wait({"completed", "failed"}, 60)
    assert (done["status"], done["completion_reason"]) == ("completed", "nobody_joined"), done


@pytest.mark.parametrize("platform", ["google_meet", "teams"])
def test_nonexistent_meeting_fails_at_joining_with_the_pages_error(start_bot, platform: str) -> None:
    session: Session = start_bot(platform, create=False)
    done = session.wait({"completed", "failed"}, 60)
    assert (done["status"], done["failure_stage"]) == ("failed", "joining"), done
    expected = "Meeting not found" if platform == "google_meet" else "This meeting link is invalid"
    assert expected in done["error_details"], done["error_details"]


def test_browser_killed_mid_meeting_fails_and_the_appliance_carries_on(start_bot) -> None:
    session: Session = start_bot("google_meet", "join-now", automatic_leave=QUICK)
    session.wait("active", 60)
    tree = psutil.Process(session.pid).children(recursive=True)
    chromium = [p for p in tree if "chrom" in p.name().lower()]
    assert chromium, [p.name() for p in tree]
    browser = min(chromium, key=lambda p: p.create_time())  # the browser process, parent of the rest
    browser.kill()
    done = session.wait({"completed", "failed"}, 30)
    assert (done["status"], done["failure_stage"]) == ("failed", "active"), done
    assert "browser" in done["error_details"], done["error_details"]
    wait_until(lambda: not group_members(session.pid), 20, what="the bot to exit")
    # The appliance carries on: healthy, and the next bot joins.
    assert session.client.get("/bots/status").json()["running_bots"] == []
    again: Session = start_bot("google_meet", "join-now", automatic_leave=QUICK)
    again.wait("active", 60)
    assert again.client.delete(f"/bots/google_meet/{again.native_id}").status_code == 202
    assert again.wait({"completed", "failed"}, 15)["completion_reason"] == "stopped"


def test_max_duration(start_bot) -> None:
    session: Session = start_bot("google_meet", "join-now", automatic_leave={**QUICK, "max_duration_s": 3})
    done = session.wait({"completed", "failed"}, 60)
    assert (done["status"], done["completion_reason"]) == ("completed", "max_duration"), done
    assert session.mock()["clients"][0]["state"] == "left"


def test_recording_of_the_meetings_audio(start_bot) -> None:
    session: Session = start_bot("google_meet", "join-now", recording_enabled=True, automatic_leave=QUICK)
    session.wait("active", 60)
    event = session.mock("speak", participant="Alice", text="This meeting is being recorded on the appliance.")
    wait_until(lambda: any(e["seq"] == event["seq"] and e["played"] for e in session.mock()["speech"]),
               event["duration_s"] + 15, 0.2, "the speech to be played")
    assert session.client.delete(f"/bots/google_meet/{session.native_id}").status_code == 202
    session.wait({"completed", "failed"}, 15)
    recordings = wait_until(
        lambda: [r for r in session.client.get("/recordings").json()["recordings"]
                 if r["status"] == "completed" and r["meeting_id"] == session.meeting["id"]],
        30, what="the recording to be completed",
    )
    media = recordings[0]["media_files"][0]
    # The whole time in the call was recorded (the mix of every channel), the speech included.
    assert media["duration_seconds"] >= event["duration_s"], media
    assert media["file_size_bytes"] > 1000
