"""Real bots (real Chromium) stopped by the user, killed after the grace period, or unable
to reach their meeting: every path ends the meeting in a terminal state."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import HangingMeetingHost, free_port, wait_until
from tests.runtime.conftest import (
    MEET_ID,
    Reaper,
    group_members,
    last_transition,
    launch_joining_bot,
    pid_of,
    running_bots,
    wait_for_status,
)

pytestmark = pytest.mark.slow


def _hosted_by(host: HangingMeetingHost) -> dict[str, str]:
    return {"google_meet_base_url": host.base_url}


def test_stop_is_graceful(make_appliance, meeting_host: HangingMeetingHost, reaper: Reaper) -> None:
    # A grace long enough for a loaded 2-core machine: this test is about leaving unforced.
    app = make_appliance(bot_stop_grace_s="60", **_hosted_by(meeting_host)).start()
    _, token = app.new_user("stop@example.com")
    with app.client(token) as client:
        meeting, pid = launch_joining_bot(app, client, meeting_host, reaper)
        assert len(group_members(pid)) > 1  # the bot and its browser

        answer = client.delete(f"/bots/google_meet/{MEET_ID}")
        assert answer.status_code == 202, answer.text
        # The stop is recorded at once, before the bot has left.
        after_delete = client.get(f"/meetings/{meeting['id']}").json()
        assert after_delete["status"] in ("stopping", "completed")
        assert any(t["to"] == "stopping" and t["source"] == "user"
                   for t in after_delete["data"]["status_transition"])

        done = wait_for_status(client, meeting["id"], {"completed", "failed"}, 30)
    assert done["status"] == "completed", done
    assert done["completion_reason"] == "stopped"
    assert done["end_time"] is not None
    moves = [(t["from"], t["to"], t["source"]) for t in done["data"]["status_transition"]]
    assert moves == [
        (None, "requested", "user"), ("requested", "joining", "bot"),
        ("joining", "stopping", "user"), ("stopping", "completed", "bot"),
    ]
    # It left by itself, its browser with it, and was not killed.
    wait_until(lambda: not group_members(pid), 15, what="the bot and its Chromium to exit")
    wait_until(lambda: not running_bots(app), 15, what="the runtime to forget the bot")
    serve_log = app.log_path.read_text(errors="replace")
    assert "did not leave within" not in serve_log
    # Its real exit status reached the runtime (not asyncio's 255 for a child reaped elsewhere).
    assert f"({meeting['bot_container_id']}) exited with 0" in serve_log
    assert "Unknown child process" not in serve_log
    assert "reporting completed (stopped)" in (app.data_dir / "logs/bots" / f"meeting-{meeting['id']}.log").read_text()


def test_bot_that_overstays_the_grace_is_killed(
    make_appliance, meeting_host: HangingMeetingHost, reaper: Reaper
) -> None:
    app = make_appliance(bot_stop_grace_s="0.01", **_hosted_by(meeting_host)).start()
    _, token = app.new_user("kill@example.com")
    with app.client(token) as client:
        meeting, pid = launch_joining_bot(app, client, meeting_host, reaper)
        # A bot that cannot act on the stop (hung): frozen, it cannot win the race against the
        # 10 ms grace by reporting its own end, so the kill path is what this test sees.
        os.killpg(pid, signal.SIGSTOP)
        assert client.delete(f"/bots/google_meet/{MEET_ID}").status_code == 202
        done = wait_for_status(client, meeting["id"], {"completed", "failed"}, 30)
    # The kill path ran: the runtime said so, the whole group (Chromium too) is gone, and the
    # server, not the bot, ended the meeting.
    wait_until(lambda: not group_members(pid), 15, what="the killed bot's process group to be gone")
    wait_until(lambda: not running_bots(app), 15, what="the runtime to forget the bot")
    serve_log = app.log_path.read_text(errors="replace")
    assert "did not leave within 0.01 s; killing it" in serve_log
    assert f"({meeting['bot_container_id']}) exited with -9" in serve_log
    assert done["status"] == "completed", done
    assert done["completion_reason"] == "stopped"
    final = last_transition(done)
    assert (final["from"], final["to"], final["source"]) == ("stopping", "completed", "system")
    bot_log = (app.data_dir / "logs/bots" / f"meeting-{meeting['id']}.log").read_text()
    assert "reporting completed" not in bot_log


def test_bot_that_cannot_reach_the_meeting_fails_at_joining(make_appliance, reaper: Reaper) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    app = make_appliance(google_meet_base_url=closed).start()
    _, token = app.new_user("refused@example.com")
    with app.client(token) as client:
        answer = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": MEET_ID})
        assert answer.status_code == 201, answer.text
        meeting = answer.json()
        pid = reaper.track(pid_of(meeting["bot_container_id"]))
        done = wait_for_status(client, meeting["id"], {"completed", "failed"}, 60)
        assert client.get("/bots/status").json()["running_bots"] == []
    assert done["status"] == "failed", done
    assert done["failure_stage"] == "joining"
    assert done["completion_reason"] is None
    final = last_transition(done)
    assert (final["from"], final["to"], final["source"]) == ("joining", "failed", "bot")
    assert final["error_details"] == done["error_details"]
    assert f"could not open {closed}/{MEET_ID}" in done["error_details"]
    assert "ERR_CONNECTION_REFUSED" in done["error_details"]
    wait_until(lambda: not group_members(pid), 30, what="the failed bot to exit")
    wait_until(lambda: not running_bots(app), 15, what="the runtime to forget the bot")


def test_stop_right_after_launch_still_ends_the_meeting(
    make_appliance, meeting_host: HangingMeetingHost, reaper: Reaper
) -> None:
    """A user who changes their mind at once: the stop lands before the bot has even reported
    `joining` (its later reports are refused); the meeting must still end, and the bot too."""
    app = make_appliance(**_hosted_by(meeting_host)).start()
    _, token = app.new_user("early@example.com")
    with app.client(token) as client:
        launched = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": MEET_ID})
        assert launched.status_code == 201, launched.text
        meeting = launched.json()
        pid = reaper.track(pid_of(meeting["bot_container_id"]))
        assert client.delete(f"/bots/google_meet/{MEET_ID}").status_code == 202
        done = wait_for_status(client, meeting["id"], {"completed", "failed"}, 60)
        assert client.get("/bots/status").json()["running_bots"] == []
    assert (done["status"], done["completion_reason"]) == ("completed", "stopped"), done
    moves = [(t["from"], t["to"]) for t in done["data"]["status_transition"]]
    assert moves[-1] == ("stopping", "completed")
    assert ("requested", "stopping") in moves or ("joining", "stopping") in moves
    wait_until(lambda: not group_members(pid), 30, what="the bot to exit")
    wait_until(lambda: not running_bots(app), 15, what="the runtime to forget the bot")
