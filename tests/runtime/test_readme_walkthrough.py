"""The README's curl walk-through, step by step, against a real appliance with a real bot.

The meeting hosts never answer, so the bot stays in `joining` (with Chromium loading the page)
until it is stopped, as a bot waiting to get into a real meeting would.
"""

from __future__ import annotations

import pytest

from tests.conftest import HangingMeetingHost, wait_until
from tests.runtime.conftest import Reaper, group_members, pid_of, wait_for_status

pytestmark = pytest.mark.slow


def test_readme_walkthrough(make_appliance, meeting_host: HangingMeetingHost, reaper: Reaper) -> None:
    hosts = {f"{p}_base_url": meeting_host.base_url for p in ("google_meet", "teams", "zoom")}
    app = make_appliance(**hosts).start()
    assert app.admin_key, "the admin key is printed at first start"

    # 1. An administrator creates a user (find-or-create by e-mail) and an API token.
    with app.admin() as admin:
        created = admin.post("/admin/users", json={"email": "ada@example.com", "name": "Ada", "max_concurrent_bots": 1})
        assert created.status_code == 201, created.text
        again = admin.post("/admin/users", json={"email": "ada@example.com"})
        assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
        issued = admin.post(f"/admin/users/{created.json()['id']}/tokens")
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]

    with app.client(token) as client:
        # 2. A bot into a meeting: 201 with the meeting object; again: 409; another: 429.
        answer = client.post("/bots", json={"meeting_url": "https://meet.google.com/abc-defg-hij", "bot_name": "Notes"})
        assert answer.status_code == 201, answer.text
        meeting = answer.json()
        pid = reaper.track(pid_of(meeting["bot_container_id"]))
        assert (meeting["platform"], meeting["native_meeting_id"]) == ("google_meet", "abc-defg-hij")
        assert meeting["status"] in ("requested", "joining")
        assert meeting["constructed_meeting_url"] == f"{meeting_host.base_url}/abc-defg-hij"
        assert meeting["data"]["bot_name"] == "Notes"

        same = client.post("/bots", json={"meeting_url": "https://meet.google.com/abc-defg-hij"})
        assert same.status_code == 409, same.text
        other = client.post(
            "/bots", json={"platform": "teams", "native_meeting_id": "1234567890123", "passcode": "Ab12Cd"}
        )
        assert other.status_code == 429, other.text
        assert "limit is 1" in other.json()["detail"]
        bad = client.post("/bots", json={"meeting_url": "https://example.com/x"})
        assert bad.status_code == 422
        assert "example.com is not a supported meeting host" in bad.json()["detail"]
        wait_for_status(client, meeting["id"], "joining")

        # 3. Meetings (newest first), the transcript, notes on the meeting.
        listed = client.get("/meetings", params={"limit": 10})
        assert listed.status_code == 200
        assert [m["id"] for m in listed.json()["meetings"]] == [meeting["id"]]  # 409/429 made none
        transcript = client.get("/transcripts/google_meet/abc-defg-hij")
        assert transcript.status_code == 200, transcript.text
        body = transcript.json()
        assert body["id"] == meeting["id"] and body["segments"] == [] and body["status"] == "joining"
        patched = client.patch(
            "/meetings/google_meet/abc-defg-hij", json={"data": {"name": "Weekly sync", "notes": "Budget review"}}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["name"] == "Weekly sync"
        assert patched.json()["data"]["bot_name"] == "Notes"  # merged, not replaced
        assert client.get("/transcripts/google_meet/abc-defg-hij").json()["notes"] == "Budget review"

        # 5 before 4: a live meeting cannot be deleted.
        assert client.delete("/meetings/google_meet/abc-defg-hij").status_code == 409

        # 4. Stop the bot: 202; stopping, then completed with reason stopped.
        stop = client.delete("/bots/google_meet/abc-defg-hij")
        assert stop.status_code == 202, stop.text
        done = wait_for_status(client, meeting["id"], {"completed", "failed"}, 30)
        assert (done["status"], done["completion_reason"]) == ("completed", "stopped")
        assert [t["to"] for t in done["data"]["status_transition"]] == [
            "requested", "joining", "stopping", "completed"
        ]
        assert client.delete("/bots/google_meet/abc-defg-hij").status_code == 409  # not running

        # 5. Delete the finished meeting's transcript and recordings: 200.
        deleted = client.delete("/meetings/google_meet/abc-defg-hij")
        assert deleted.status_code == 200, deleted.text
        after = client.get(f"/meetings/{meeting['id']}").json()
        assert "name" not in after["data"] and "notes" not in after["data"]
        assert after["status"] == "completed"
        assert client.get("/transcripts/google_meet/abc-defg-hij").json()["segments"] == []
    wait_until(lambda: not group_members(pid), 15, what="the bot and its Chromium to exit")
