"""Deleted transcripts are gone from the files, not only from the rows (issue: the text was still
readable in SQLite's free pages and write-ahead log after DELETE /meetings/...)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiUser, ApplianceDb


def test_a_deleted_transcript_is_not_in_the_database_files(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    meeting_id = db.insert_meeting(user.id, native_meeting_id="sec-urer-ase")
    phrase = "the acquisition of Northwind closes on the fourteenth"
    for n in range(40):  # enough rows to fill pages of their own
        db.insert_segment(meeting_id, f"s{n}", n, n + 1, f"{phrase} (part {n})", speaker="Ana")
    assert user.client.get("/transcripts/google_meet/sec-urer-ase").json()["segments"]
    assert phrase.encode() in db.stored_bytes()

    assert user.client.delete("/meetings/google_meet/sec-urer-ase").status_code == 200
    assert db.rows("SELECT id FROM transcript_segments WHERE meeting_id = ?", meeting_id) == []
    stored = db.stored_bytes()
    assert phrase.encode() not in stored and b"Northwind" not in stored
