"""A user never sees, stops, changes or deletes another user's meetings or recordings (404s)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import TERMINAL, ApiUser, ApplianceDb, Bots, meet_code


def test_another_users_meetings_transcripts_and_recordings_are_invisible(
    make_user: Any, db: ApplianceDb, bots: Bots
) -> None:
    alice: ApiUser = make_user()
    bob: ApiUser = make_user()
    ended_code, live_code = meet_code(), meet_code()
    ended = db.insert_meeting(alice.id, native_meeting_id=ended_code, data={"name": "Alice's review", "notes": "n"})
    db.insert_segment(ended, "s1", 0.0, 1.0, "Alice only.")
    recording_id, media_id, _ = db.insert_recording(ended, alice.id)
    live = db.insert_meeting(alice.id, native_meeting_id=live_code, status="active")
    bob_meeting = db.insert_meeting(bob.id)
    share = alice.client.post(f"/transcripts/google_meet/{ended_code}/share", json={})
    assert share.status_code == 200

    b = bob.client
    assert [m["id"] for m in b.get("/meetings").json()["meetings"]] == [bob_meeting]
    assert b.get("/bots/status").json() == {"running_bots": []}
    assert b.get("/recordings").json() == {"recordings": []}
    refused = {
        "get meeting": b.get(f"/meetings/{ended}"),
        "get live meeting": b.get(f"/meetings/{live}"),
        "transcript": b.get(f"/transcripts/google_meet/{ended_code}"),
        "transcript by id": b.get(f"/transcripts/google_meet/{ended_code}", params={"meeting_id": ended}),
        "transcript txt": b.get(f"/transcripts/google_meet/{ended_code}", params={"format": "txt"}),
        "share": b.post(f"/transcripts/google_meet/{ended_code}/share", json={}),
        "share by id": b.post(f"/transcripts/google_meet/{ended_code}/share", json={"meeting_id": ended}),
        "patch": b.patch(f"/meetings/google_meet/{ended_code}", json={"data": {"name": "Bob was here"}}),
        "delete meeting": b.delete(f"/meetings/google_meet/{ended_code}"),
        "stop bot": b.delete(f"/bots/google_meet/{live_code}"),
        "reconfigure bot": b.put(f"/bots/google_meet/{live_code}/config", json={"language": "fr"}),
        "get recording": b.get(f"/recordings/{recording_id}"),
        "raw audio": b.get(f"/recordings/{recording_id}/media/{media_id}/raw"),
        "raw audio range": b.get(f"/recordings/{recording_id}/media/{media_id}/raw", headers={"Range": "bytes=0-9"}),
        "delete recording": b.delete(f"/recordings/{recording_id}"),
    }
    wrong = {what: answer.status_code for what, answer in refused.items() if answer.status_code != 404}
    assert wrong == {}
    # The 404 does not reveal that the meeting exists.
    assert refused["get meeting"].json()["detail"] == b.get("/meetings/99999999").json()["detail"].replace(
        "99999999", str(ended)
    )
    assert "Alice" not in "".join(answer.text for answer in refused.values())

    # Bob's own meeting with the same code does not open a door to Alice's by ?meeting_id=.
    same_code = db.insert_meeting(bob.id, native_meeting_id=ended_code)
    assert b.get(f"/transcripts/google_meet/{ended_code}").json()["id"] == same_code
    assert b.get(f"/transcripts/google_meet/{ended_code}", params={"meeting_id": ended}).status_code == 404
    assert b.patch(f"/meetings/google_meet/{ended_code}", params={"meeting_id": ended},
                   json={"data": {"name": "Bob was here"}}).status_code == 404
    assert b.delete(f"/meetings/google_meet/{ended_code}", params={"meeting_id": ended}).status_code == 404

    # Nothing of Alice's changed.
    meeting = alice.client.get(f"/meetings/{ended}").json()
    assert meeting["data"]["name"] == "Alice's review"
    assert alice.client.get(f"/meetings/{live}").json()["status"] == "active"
    assert alice.client.get(f"/meetings/{live}").json()["data"].get("language") is None
    ended = alice.client.get(f"/transcripts/google_meet/{ended_code}").json()
    assert [s["text"] for s in ended["segments"]] == ["Alice only."]
    assert alice.client.get(f"/recordings/{recording_id}").status_code == 200
    assert (db.recordings_dir / str(recording_id) / "audio.wav").is_file()
    assert alice.client.get(share.json()["url"]).status_code == 200

    # Alice ends her (bot-less) live meeting; the server finalises it.
    assert bots.stop(alice.client, alice.client.get(f"/meetings/{live}").json())["status"] in TERMINAL
