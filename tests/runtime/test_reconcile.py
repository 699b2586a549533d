"""Reconciliation at start: after a crash (kill -9 of `vomeet serve`) the restarted appliance
finalises meetings whose bot is gone and adopts bots that are still running."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import HangingMeetingHost, wait_until
from tests.runtime.conftest import (
    MEET_ID,
    Reaper,
    crash,
    get_meeting,
    group_members,
    kill_group,
    last_transition,
    launch_joining_bot,
    process_for,
    running_bots,
    wait_for_status,
)

pytestmark = pytest.mark.slow


def test_joining_bot_gone_after_crash_is_failed_at_joining(
    make_appliance, meeting_host: HangingMeetingHost, reaper: Reaper
) -> None:
    app = make_appliance(google_meet_base_url=meeting_host.base_url).start()
    _, token = app.new_user("gone@example.com")
    with app.client(token) as client:
        meeting, pid = launch_joining_bot(app, client, meeting_host, reaper)
    crash(app, reaper)
    kill_group(pid)
    wait_until(lambda: not group_members(pid), 15, what="the bot to die")
    assert get_status_offline(app, meeting["id"]) == "joining"

    app.start()

    with app.client(token) as client:
        # Reconciliation runs before the API answers: no waiting needed.
        done = get_meeting(client, meeting["id"])
        assert client.get("/bots/status").json()["running_bots"] == []
    assert done["status"] == "failed", done
    assert done["failure_stage"] == "joining"
    assert "the bot exited" in done["error_details"]
    assert "without reporting an end" in done["error_details"]
    final = last_transition(done)
    assert (final["from"], final["to"], final["source"]) == ("joining", "failed", "system")
    assert final["error_details"]
    assert running_bots(app) == {}


def test_meeting_left_stopping_is_completed_at_restart(
    make_appliance, meeting_host: HangingMeetingHost, reaper: Reaper
) -> None:
    app = make_appliance(google_meet_base_url=meeting_host.base_url).start()
    _, token = app.new_user("stopping@example.com")
    with app.client(token) as client:
        meeting, pid = launch_joining_bot(app, client, meeting_host, reaper)
        # Freeze the bot so that it cannot act on the stop: the appliance dies while the
        # meeting is `stopping` and the bot has not left yet.
        os.killpg(pid, signal.SIGSTOP)
        assert client.delete(f"/bots/google_meet/{MEET_ID}").status_code == 202
        assert get_meeting(client, meeting["id"])["status"] == "stopping"
    crash(app, reaper)
    kill_group(pid)
    wait_until(lambda: not group_members(pid), 15, what="the bot to die")

    app.start()

    with app.client(token) as client:
        done = get_meeting(client, meeting["id"])
    assert done["status"] == "completed", done
    assert done["completion_reason"] == "stopped"
    assert done["failure_stage"] is None
    final = last_transition(done)
    assert (final["from"], final["to"], final["source"]) == ("stopping", "completed", "system")


def test_bot_alive_after_crash_is_adopted_and_can_be_stopped(
    make_appliance, meeting_host: HangingMeetingHost, reaper: Reaper
) -> None:
    app = make_appliance(google_meet_base_url=meeting_host.base_url, bot_stop_grace_s="60").start()
    _, token = app.new_user("adopt@example.com")
    with app.client(token) as client:
        meeting, pid = launch_joining_bot(app, client, meeting_host, reaper)
    handle = meeting["bot_container_id"]
    crash(app, reaper)
    assert process_for(handle) is not None  # the bot outlived the appliance

    app.start()

    assert running_bots(app) == {str(meeting["id"]): handle}  # watched again by the runtime
    with app.client(token) as client:
        bots = client.get("/bots/status").json()["running_bots"]
        assert [(b["meeting_id"], b["status"], b["runtime"]) for b in bots] == [
            (meeting["id"], "joining", {"kind": "process", "id": handle})
        ]
        assert client.delete(f"/bots/google_meet/{MEET_ID}").status_code == 202
        done = wait_for_status(client, meeting["id"], {"completed", "failed"}, 30)
    assert done["status"] == "completed", done
    assert done["completion_reason"] == "stopped"
    final = last_transition(done)
    assert (final["from"], final["to"], final["source"]) == ("stopping", "completed", "bot")
    wait_until(lambda: not group_members(pid), 15, what="the adopted bot and its Chromium to exit")
    wait_until(lambda: not running_bots(app), 15, what="the runtime to notice the adopted bot's exit")
    # It ended cleanly: its command poller, retrying through the outage, did not outlive the
    # stop and turn the clean exit into a refused call.
    bot_log = (app.data_dir / "logs/bots" / f"meeting-{meeting['id']}.log").read_text()
    assert "reporting completed (stopped)" in bot_log
    assert "refused" not in bot_log, bot_log[-2000:]


def get_status_offline(app, meeting_id: int) -> str:
    """Read a meeting's status straight from the database file while the appliance is down."""
    import sqlite3

    with sqlite3.connect(app.data_dir / "vomeet.db") as db:
        (status,) = db.execute("SELECT status FROM meetings WHERE id = ?", (meeting_id,)).fetchone()
    return str(status)
