"""POST /bots with join_at, GET/PATCH/DELETE /scheduled, and who may read a shared meeting,
against the real server (`vomeet serve`) and its SQLite file."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from appliance.config import load_settings
from appliance.db.engine import Database
from appliance.scheduling import reconcile
from tests.api.conftest import ApiUser, ApplianceDb, meet_code, utcnow
from tests.conftest import Appliance
from tests.scheduling.conftest import entry, event


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_join_at_is_checked_and_says_why(make_user: Any) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    cases = {
        "tomorrow at nine": "body.join_at",
        "2031-03-03T09:00:00": "timezone",  # no offset: which nine o'clock?
        (utcnow() - timedelta(minutes=11)).isoformat(): "in the past",
    }
    for join_at, says in cases.items():
        body = {"platform": "google_meet", "native_meeting_id": code, "join_at": join_at}
        answer = user.client.post("/bots", json=body)
        assert answer.status_code == 422, (join_at, answer.text)
        assert says in answer.json()["detail"], (join_at, answer.json())
    assert user.client.get("/scheduled").json()["scheduled"] == []


def test_a_bot_for_later_is_scheduled_listed_moved_overridden_and_cancelled(
    make_user: Any, db: ApplianceDb
) -> None:
    user: ApiUser = make_user()
    other: ApiUser = make_user()
    code = meet_code()
    join_at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    answer = user.client.post("/bots", json={
        "platform": "google_meet", "native_meeting_id": code, "bot_name": "Minutes", "language": "de",
        "join_at": join_at.isoformat(),
    })
    assert answer.status_code == 201, answer.text
    scheduled = answer.json()
    assert (scheduled["state"], scheduled["auto_join"], scheduled["reason"]) == ("scheduled", True, "requested by API")
    assert (scheduled["source"], scheduled["meeting_id"], scheduled["bot_owner"]) == ("api", None, True)
    assert when(scheduled["join_at"]) == join_at
    assert user.client.get("/meetings").json()["meetings"] == [], "no meeting row, no bot, until it is due"
    row = db.row("SELECT options FROM scheduled_meetings WHERE id = ?", scheduled["id"])
    assert row is not None and '"bot_name": "Minutes"' in row["options"]  # the request waits with it
    told = db.row("SELECT data FROM outbox_events WHERE event_type = 'meeting.scheduled' AND user_id = ?", user.id)
    assert told is not None and f'"id": {scheduled["id"]}' in told["data"]

    listed = user.client.get("/scheduled").json()["scheduled"]
    assert [s["id"] for s in listed] == [scheduled["id"]]
    assert other.client.get("/scheduled").json()["scheduled"] == []
    for method in ("GET", "PATCH", "DELETE"):
        body = {"override": "skip"} if method == "PATCH" else None
        assert other.client.request(method, f"/scheduled/{scheduled['id']}", json=body).status_code == 404

    moved_to = join_at + timedelta(hours=1)
    moved = user.client.patch(f"/scheduled/{scheduled['id']}", json={"join_at": moved_to.isoformat()}).json()
    assert when(moved["join_at"]) == moved_to and when(moved["start_at"]) == moved_to
    skip = user.client.patch(f"/scheduled/{scheduled['id']}", json={"override": "skip"}).json()
    assert (skip["auto_join"], skip["reason"], skip["override"]) == (False, "override: skip", "skip")
    back = user.client.patch(f"/scheduled/{scheduled['id']}", json={"override": None}).json()
    assert (back["auto_join"], back["reason"], back["override"]) == (True, "requested by API", None)

    cancelled = user.client.delete(f"/scheduled/{scheduled['id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["reason"]) == ("cancelled", f"cancelled by {user.email}")
    assert user.client.delete(f"/scheduled/{scheduled['id']}").status_code == 409
    assert user.client.patch(f"/scheduled/{scheduled['id']}", json={"override": "join"}).status_code == 409
    kept = user.client.get("/scheduled", params={"state": "cancelled"}).json()["scheduled"]
    assert [s["id"] for s in kept] == [scheduled["id"]], "a cancelled one is kept, with its reason"


def test_three_users_with_one_meeting_read_its_one_run_and_a_fourth_gets_404(
    appliance: Appliance, make_user: Any, db: ApplianceDb
) -> None:
    ann, bob, cid, dan = (make_user() for _ in range(4))
    start = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    code = meet_code()
    url = f"https://meet.google.com/{code}"
    settings = load_settings(data_dir=appliance.data_dir)

    async def calendars_sync() -> None:
        database = Database(settings)
        try:
            async with database.session() as session:
                # Three calendars (three connections), each with its own copy of the invitation.
                copies = [
                    entry(user, event(f"invite-{code}", start, user.email, url=url, title="Reorg, confidential"),
                          connection_id=900 + n)
                    for n, user in enumerate((ann, bob, cid))
                ]
                await reconcile(session, utcnow(), copies, settings=settings)
                await session.commit()
        finally:
            await database.dispose()

    asyncio.run(calendars_sync())
    shared = [u.client.get("/scheduled").json()["scheduled"] for u in (ann, bob, cid)]
    assert [len(s) for s in shared] == [1, 1, 1] and len({s[0]["id"] for s in shared}) == 1
    scheduled_id = shared[0][0]["id"]
    assert [s[0]["bot_owner"] for s in shared] == [True, False, False], "the bot runs as the first of them"
    assert dan.client.get("/scheduled").json()["scheduled"] == []
    assert dan.client.get(f"/scheduled/{scheduled_id}").status_code == 404
    readers = db.rows("SELECT user_id FROM scheduled_meeting_readers WHERE scheduled_meeting_id = ?", scheduled_id)
    assert sorted(r["user_id"] for r in readers) == sorted(u.id for u in (ann, bob, cid))
    told = db.rows("SELECT user_id, data FROM outbox_events WHERE event_type = 'meeting.scheduled' "
                   "AND data LIKE ?", f'%"id": {scheduled_id},%')
    assert sorted(t["user_id"] for t in told) == sorted(u.id for u in (ann, bob, cid)), "meeting.scheduled, once each"
    assert all('"auto_join": true' in t["data"] for t in told), "with the decision"

    # Its bot's run (as the sweep makes it: the owner's meeting, tied to the scheduled meeting).
    meeting_id = db.insert_meeting(ann.id, native_meeting_id=code)
    db.execute("UPDATE meetings SET scheduled_meeting_id = ? WHERE id = ?", scheduled_id, meeting_id)
    db.insert_segment(meeting_id, "s1", 0.0, 2.0, "Budget first, then hiring.")
    for reader in (ann, bob, cid):
        assert [m["id"] for m in reader.client.get("/meetings").json()["meetings"]] == [meeting_id]
        assert reader.client.get(f"/meetings/{meeting_id}").status_code == 200
        transcript = reader.client.get(f"/transcripts/google_meet/{code}")
        assert transcript.status_code == 200, transcript.text
        assert [s["text"] for s in transcript.json()["segments"]] == ["Budget first, then hiring."]
    assert dan.client.get("/meetings").json()["meetings"] == []
    assert dan.client.get(f"/meetings/{meeting_id}").status_code == 404
    assert dan.client.get(f"/transcripts/google_meet/{code}").status_code == 404
    # Reading is all a reader may do: the owner's data stays the owner's to change.
    assert bob.client.patch(f"/meetings/google_meet/{code}", json={"data": {"notes": "x"}}).status_code == 404
    assert bob.client.delete(f"/meetings/google_meet/{code}").status_code == 404
    # The owner deletes it: the content goes, and so does the event's title on the scheduled meeting.
    assert ann.client.delete(f"/meetings/google_meet/{code}").status_code == 200
    scrubbed = db.row("SELECT title FROM scheduled_meetings WHERE id = ?", scheduled_id)
    assert scrubbed is not None and scrubbed["title"] is None
    assert cid.client.get(f"/transcripts/google_meet/{code}").json()["segments"] == []
