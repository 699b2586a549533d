"""GET /meetings, GET /meetings/{id}, PATCH and DELETE /meetings/{platform}/{id}."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiUser, ApplianceDb, Bots, meet_code, teams_id, utcnow

MEETING_FIELDS = {
    "id", "user_id", "platform", "native_meeting_id", "constructed_meeting_url", "status",
    "completion_reason", "failure_stage", "bot_container_id", "start_time", "end_time", "data",
    "created_at", "updated_at",
}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ids(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [m["id"] for m in answer.json()["meetings"]]


def test_meetings_are_listed_newest_first_with_paging_and_filters(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    start = utcnow() - timedelta(hours=1)
    seeded = [
        db.insert_meeting(user.id, platform=platform, status=status, created_at=start + timedelta(minutes=n))
        for n, (platform, status) in enumerate(
            [("google_meet", "completed"), ("teams", "failed"), ("zoom", "completed"),
             ("teams", "completed"), ("google_meet", "failed")]
        )
    ]
    newest_first = list(reversed(seeded))
    client = user.client
    assert ids(client.get("/meetings")) == newest_first
    assert ids(client.get("/meetings", params={"limit": 2})) == newest_first[:2]
    assert ids(client.get("/meetings", params={"limit": 2, "offset": 2})) == newest_first[2:4]
    assert ids(client.get("/meetings", params={"offset": 4})) == newest_first[4:]
    assert ids(client.get("/meetings", params={"offset": 5})) == []
    assert ids(client.get("/meetings", params={"status": "failed"})) == [seeded[4], seeded[1]]
    assert ids(client.get("/meetings", params={"platform": "teams"})) == [seeded[3], seeded[1]]
    assert ids(client.get("/meetings", params={"platform": "teams", "status": "completed"})) == [seeded[3]]
    assert ids(client.get("/meetings", params={"status": "active"})) == []
    listed = client.get("/meetings").json()["meetings"]
    assert all(m["user_id"] == user.id for m in listed)
    assert [m["platform"] for m in listed] == ["google_meet", "teams", "zoom", "teams", "google_meet"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"status": "done"}, "query.status"),
        ({"platform": "skype"}, "query.platform"),
        ({"limit": 0}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"offset": -1}, "query.offset"),
    ],
)
def test_bad_list_filters_are_422(make_user: Any, params: dict[str, Any], says: str) -> None:
    answer = make_user().client.get("/meetings", params=params)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]


def test_one_meeting_by_id(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    meeting_id = db.insert_meeting(user.id, platform="zoom", native_meeting_id="81234567890", status="failed")
    answer = user.client.get(f"/meetings/{meeting_id}")
    assert answer.status_code == 200
    meeting = answer.json()
    assert MEETING_FIELDS <= set(meeting)
    assert meeting["id"] == meeting_id and meeting["user_id"] == user.id
    assert meeting["platform"] == "zoom" and meeting["native_meeting_id"] == "81234567890"
    assert meeting["status"] == "failed"
    assert meeting["created_at"].endswith(("Z", "+00:00"))
    assert meeting["data"]["status_transition"][0]["to"] == "failed"
    missing = user.client.get(f"/meetings/{meeting_id + 100000}")
    assert missing.status_code == 404
    assert "No meeting" in missing.json()["detail"]


def test_patch_merges_only_the_given_keys(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    older = db.insert_meeting(user.id, native_meeting_id=code, data={"bot_name": "B", "name": "Old one"})
    meeting_id = db.insert_meeting(
        user.id, native_meeting_id=code,
        data={"bot_name": "Notetaker", "passcode": None, "name": "Standup", "notes": "keep me"},
    )
    path = f"/meetings/google_meet/{code}"

    before = user.client.get(f"/meetings/{meeting_id}").json()
    renamed = user.client.patch(path, json={"data": {"name": "Weekly sync"}})
    assert renamed.status_code == 200, renamed.text
    assert when(renamed.json()["updated_at"]) > when(before["updated_at"])
    data = renamed.json()["data"]
    assert renamed.json()["id"] == meeting_id  # the newest meeting for that id
    assert data["name"] == "Weekly sync"
    assert data["notes"] == "keep me"
    assert data["bot_name"] == "Notetaker"

    more = user.client.patch(
        path, json={"data": {"participants": ["Ana", "Ben"], "languages": ["en", "de"], "notes": "new notes"}}
    )
    assert more.status_code == 200
    data = more.json()["data"]
    assert (data["name"], data["participants"], data["languages"], data["notes"]) == (
        "Weekly sync", ["Ana", "Ben"], ["en", "de"], "new notes",
    )
    # Keys outside name/participants/languages/notes are not merged.
    sneaky = user.client.patch(path, json={"data": {"bot_name": "Hacked", "passcode": "123", "status": "active"}})
    assert sneaky.status_code == 200
    assert sneaky.json()["data"]["bot_name"] == "Notetaker"
    assert sneaky.json()["data"]["passcode"] is None
    assert sneaky.json()["status"] == "completed"
    # It is stored, not only echoed.
    assert user.client.get(f"/meetings/{meeting_id}").json()["data"]["notes"] == "new notes"
    # ?meeting_id= patches an older meeting of the same id.
    old = user.client.patch(path, params={"meeting_id": older}, json={"data": {"notes": "for the old one"}})
    assert old.json()["id"] == older and old.json()["data"]["name"] == "Old one"
    assert user.client.get(f"/meetings/{meeting_id}").json()["data"]["notes"] == "new notes"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "body.data"),
        ({"data": {"participants": "Ana"}}, "body.data.participants"),
        ({"data": {"name": "x" * 501}}, "body.data.name"),
        ({"data": "name"}, "body.data"),
    ],
)
def test_bad_patches_are_422(make_user: Any, db: ApplianceDb, body: dict[str, Any], says: str) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    db.insert_meeting(user.id, native_meeting_id=code, data={"name": "Unchanged"})
    answer = user.client.patch(f"/meetings/google_meet/{code}", json=body)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]
    assert user.client.get("/meetings").json()["meetings"][0]["data"]["name"] == "Unchanged"


def test_patching_an_unknown_meeting_is_404(make_user: Any) -> None:
    answer = make_user().client.patch("/meetings/google_meet/abc-defg-hij", json={"data": {"name": "x"}})
    assert answer.status_code == 404


def test_a_live_meeting_cannot_be_deleted_an_ended_one_is_scrubbed(
    make_user: Any, bots: Bots, db: ApplianceDb
) -> None:
    user: ApiUser = make_user()
    code = teams_id()
    meeting = bots.launch(
        user, platform="teams", native_meeting_id=code, passcode="Secret1234", bot_name="Scribe"
    ).json()
    assert meeting["data"]["passcode"] == "Secret1234" and "Secret1234" in meeting["constructed_meeting_url"]
    bots.wait_for(user.client, meeting["id"], {"joining"})
    path = f"/meetings/teams/{code}"
    assert user.client.patch(
        path, json={"data": {"name": "Board meeting", "notes": "secret plans", "participants": ["Ana"]}}
    ).status_code == 200
    db.insert_segment(meeting["id"], "s1", 0.0, 2.0, "Confidential figures.", speaker="Ana")
    recording_id, media_id, _ = db.insert_recording(meeting["id"], user.id)
    share = user.client.post(f"/transcripts/teams/{code}/share", json={})
    assert share.status_code == 200, share.text

    refused = user.client.delete(path)
    assert refused.status_code == 409
    assert "stop its bot" in refused.json()["detail"]
    assert user.client.get(f"/transcripts/teams/{code}").json()["segments"] != []

    bots.stop(user.client, meeting)
    deleted = user.client.delete(path)
    assert deleted.status_code == 200, deleted.text
    assert "deleted" in deleted.json()["message"]

    after = user.client.get(f"/meetings/{meeting['id']}").json()
    assert after["status"] == "completed"
    for gone in ("name", "notes", "participants", "passcode", "language", "automatic_leave"):
        assert gone not in after["data"], gone
    assert after["data"]["bot_name"] == "Scribe"
    assert after["data"]["redacted"] is True
    transcript = user.client.get(f"/transcripts/teams/{code}").json()
    assert transcript["segments"] == [] and transcript["recordings"] == [] and transcript["notes"] is None
    assert user.client.get(f"/recordings/{recording_id}").status_code == 404
    assert user.client.get(f"/recordings/{recording_id}/media/{media_id}/raw").status_code == 404
    public = user.client.get(share.json()["url"], headers={"X-API-Key": ""})
    assert public.status_code == 404
    for table in ("transcript_segments", "recordings", "share_links"):
        assert db.rows(f"SELECT id FROM {table} WHERE meeting_id = ?", meeting["id"]) == [], table
    assert db.rows("SELECT id FROM media_files WHERE recording_id = ?", recording_id) == []
    assert not (db.recordings_dir / str(recording_id)).exists()
    # The meeting's passcode is gone everywhere, the link it was part of included.
    assert "Secret1234" not in user.client.get(f"/meetings/{meeting['id']}").text
    assert after["constructed_meeting_url"].endswith(f"/meet/{code}")
    stored = db.row("SELECT * FROM meetings WHERE id = ?", meeting["id"])
    assert stored is not None and "secret plans" not in stored["data"] and "Board meeting" not in stored["data"]
    scheduled = db.row("SELECT * FROM scheduled_meetings WHERE id = ?", stored["scheduled_meeting_id"])
    assert scheduled is not None
    assert "Secret1234" not in " ".join(str(value) for value in (*stored, *scheduled))


def test_a_failed_meeting_can_be_deleted(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    meeting_id = db.insert_meeting(user.id, native_meeting_id=code, status="failed", data={"name": "Oops"})
    db.insert_segment(meeting_id, "s1", 0.0, 1.0, "hello")
    answer = user.client.delete(f"/meetings/google_meet/{code}")
    assert answer.status_code == 200
    assert db.rows("SELECT id FROM transcript_segments WHERE meeting_id = ?", meeting_id) == []
    assert "name" not in user.client.get(f"/meetings/{meeting_id}").json()["data"]
    assert user.client.delete("/meetings/google_meet/abc-defg-hij").status_code == 404
