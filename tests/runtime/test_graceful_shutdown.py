"""SIGTERM to `vomeet serve` (systemd stop): bots leave first and their meetings end cleanly."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import Appliance, HangingMeetingHost, wait_until


def test_shutdown_lets_live_bots_leave_and_report(make_appliance, hanging_host: HangingMeetingHost) -> None:
    app: Appliance = make_appliance(google_meet_base_url=hanging_host.base_url)
    app.start()
    _, token = app.new_user("shutdown@example.com")
    with app.client(token) as client:
        assert client.post("/bots", json={"meeting_url": "https://meet.google.com/sht-down-now"}).status_code == 201
        wait_until(
            lambda: client.get("/meetings").json()["meetings"][0]["status"] == "joining",
            60, what="the bot to report joining",
        )
    assert app.stop() == 0

    with sqlite3.connect(app.data_dir / "vomeet.db") as db:
        status, reason, transitions = db.execute(
            "SELECT status, completion_reason, transitions FROM meetings"
        ).fetchone()
    moves = [(t["to"], t["source"]) for t in json.loads(transitions)]
    assert (status, reason) == ("completed", "stopped")
    # The system asked the bot to leave, and the bot itself reported the end: not a forced kill.
    assert moves[-2:] == [("stopping", "system"), ("completed", "bot")]
