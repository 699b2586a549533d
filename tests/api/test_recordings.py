"""GET /recordings, GET and DELETE /recordings/{id}, GET /recordings/{id}/media/{mid}/raw (Range).

Recordings and their audio files are created the way the bot pipeline leaves them: a row in
`recordings`, a row in `media_files` and a WAV file under <data_dir>/recordings/<recording id>/.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ApiUser, ApplianceDb


@pytest.fixture
def recorded(make_user: Any, db: ApplianceDb) -> tuple[ApiUser, int, int, int, bytes]:
    """A user with one finished meeting that has a recording: (user, meeting, recording, media, bytes)."""
    user: ApiUser = make_user()
    meeting_id = db.insert_meeting(user.id)
    recording_id, media_id, content = db.insert_recording(meeting_id, user.id, seconds=0.25)
    return user, meeting_id, recording_id, media_id, content


def test_recordings_are_listed_newest_first_with_their_media(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    first_meeting = db.insert_meeting(user.id)
    second_meeting = db.insert_meeting(user.id)
    first, first_media, first_bytes = db.insert_recording(first_meeting, user.id, seconds=0.5)
    second, _, _ = db.insert_recording(second_meeting, user.id, seconds=0.25)

    answer = user.client.get("/recordings")
    assert answer.status_code == 200
    recordings = answer.json()["recordings"]
    assert [r["id"] for r in recordings] == [second, first]
    assert recordings[1]["meeting_id"] == first_meeting and recordings[1]["user_id"] == user.id
    assert recordings[1]["status"] == "completed"
    [media] = recordings[1]["media_files"]
    assert media["id"] == first_media
    assert (media["type"], media["format"], media["file_size_bytes"], media["duration_seconds"]) == (
        "audio", "wav", len(first_bytes), 0.5,
    )
    assert "storage_path" not in media  # where files live on disk is not the caller's business
    assert [r["id"] for r in user.client.get("/recordings", params={"limit": 1}).json()["recordings"]] == [second]
    assert [r["id"] for r in user.client.get("/recordings", params={"skip": 1}).json()["recordings"]] == [first]
    assert user.client.get("/recordings", params={"limit": 0}).status_code == 422

    one = user.client.get(f"/recordings/{first}")
    assert one.status_code == 200
    assert one.json() == recordings[1]
    # The transcript of the meeting lists its recording too.
    transcript = user.client.get(
        f"/transcripts/google_meet/{user.client.get(f'/meetings/{first_meeting}').json()['native_meeting_id']}"
    ).json()
    assert [r["id"] for r in transcript["recordings"]] == [first]
    assert user.client.get(f"/recordings/{second + 100000}").status_code == 404


def test_audio_is_served_whole_and_by_range(recorded: tuple[ApiUser, int, int, int, bytes]) -> None:
    user, _, recording_id, media_id, content = recorded
    url = f"/recordings/{recording_id}/media/{media_id}/raw"
    size = len(content)

    whole = user.client.get(url)
    assert whole.status_code == 200
    assert whole.content == content
    assert whole.content[:4] == b"RIFF"
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers.get("accept-ranges") == "bytes"

    head = user.client.get(url, headers={"Range": "bytes=0-99"})
    assert head.status_code == 206
    assert head.content == content[:100]
    assert head.headers["content-range"] == f"bytes 0-99/{size}"
    assert head.headers["content-length"] == "100"

    middle = user.client.get(url, headers={"Range": f"bytes=1000-{size + 500}"})  # end clamped to the file
    assert middle.status_code == 206
    assert middle.content == content[1000:]
    assert middle.headers["content-range"] == f"bytes 1000-{size - 1}/{size}"

    tail = user.client.get(url, headers={"Range": "bytes=-44"})
    assert tail.status_code == 206
    assert tail.content == content[-44:]

    beyond = user.client.get(url, headers={"Range": f"bytes={size + 10}-{size + 20}"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert "past the end" in beyond.json()["detail"]


@pytest.mark.parametrize("bad", ["pages=0-9", "bytes=abc", "bytes=9-3", "bytes=", "bytes=-"])
def test_a_malformed_range_gets_the_apis_error_shape(recorded: tuple[ApiUser, int, int, int, bytes], bad: str) -> None:
    """Starlette answered these with a text/plain 400 (issue)."""
    user, _, recording_id, media_id, _ = recorded
    answer = user.client.get(f"/recordings/{recording_id}/media/{media_id}/raw", headers={"Range": bad})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert "bytes=0-1023" in answer.json()["detail"]


def test_missing_media_and_missing_files_are_404(
    recorded: tuple[ApiUser, int, int, int, bytes], db: ApplianceDb
) -> None:
    user, _, recording_id, media_id, _ = recorded
    wrong_media = user.client.get(f"/recordings/{recording_id}/media/{media_id + 100000}/raw")
    assert wrong_media.status_code == 404
    assert f"has no media file {media_id + 100000}" in wrong_media.json()["detail"]
    (db.recordings_dir / str(recording_id) / "audio.wav").unlink()
    vanished = user.client.get(f"/recordings/{recording_id}/media/{media_id}/raw")
    assert vanished.status_code == 404
    assert "missing" in vanished.json()["detail"]


def test_a_media_path_outside_the_recordings_folder_is_never_served(
    recorded: tuple[ApiUser, int, int, int, bytes], db: ApplianceDb
) -> None:
    user, _, recording_id, media_id, _ = recorded
    db.execute("UPDATE media_files SET storage_path = ? WHERE id = ?", "../vomeet.db", media_id)
    answer = user.client.get(f"/recordings/{recording_id}/media/{media_id}/raw")
    assert answer.status_code == 404
    assert b"SQLite" not in answer.content


def test_deleting_a_recording_removes_rows_and_files(
    recorded: tuple[ApiUser, int, int, int, bytes], db: ApplianceDb
) -> None:
    user, meeting_id, recording_id, media_id, _ = recorded
    assert (db.recordings_dir / str(recording_id) / "audio.wav").is_file()
    deleted = user.client.delete(f"/recordings/{recording_id}")
    assert deleted.status_code == 200, deleted.text
    assert str(recording_id) in deleted.json()["message"]
    assert user.client.get(f"/recordings/{recording_id}").status_code == 404
    assert user.client.get(f"/recordings/{recording_id}/media/{media_id}/raw").status_code == 404
    assert user.client.get("/recordings").json() == {"recordings": []}
    assert not (db.recordings_dir / str(recording_id)).exists()
    assert db.rows("SELECT id FROM media_files WHERE recording_id = ?", recording_id) == []
    # The meeting itself is untouched.
    assert user.client.get(f"/meetings/{meeting_id}").status_code == 200
    assert user.client.delete(f"/recordings/{recording_id}").status_code == 404
