"""GET /search against the real server and its SQLite file: words found across the caller's own
meetings only, marked snippets and offsets, deleted meetings gone, unreadable queries refused."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiUser, ApplianceDb


def seed(db: ApplianceDb, user: ApiUser, native: str, lines: list[tuple[float, str, str]], **meeting: Any) -> int:
    meeting_id = db.insert_meeting(user.id, native_meeting_id=native, **meeting)
    for n, (start, speaker, text) in enumerate(lines):
        db.insert_segment(meeting_id, f"{native}-{n}", start, start + 2.5, text, speaker=speaker)
    return meeting_id


def test_words_are_found_across_the_users_meetings_with_marked_snippets(make_user: Any, db: ApplianceDb) -> None:
    user = make_user()
    first = seed(db, user, "srh-firs-tmt", [
        (1.0, "Ana", "Good morning everyone."),
        (12.5, "Ben", "Let us review the quarterly budget for the Zürich office."),
    ], data={"name": "Planning"})
    second = seed(db, user, "srh-seco-ndm", [(40.0, "Cleo", "The budget was approved yesterday.")])

    answer = user.client.get("/search", params={"q": "budget"})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    # Newest meeting first.
    assert [(r["meeting_id"], r["start"], r["end"], r["speaker"]) for r in results] == [
        (second, 40.0, 42.5, "Cleo"), (first, 12.5, 15.0, "Ben"),
    ]
    assert results[0]["snippet"] == "The **budget** was approved yesterday."
    assert results[1] | {"snippet": None} == {
        "meeting_id": first, "platform": "google_meet", "native_meeting_id": "srh-firs-tmt",
        "meeting_name": "Planning", "segment_id": "srh-firs-tmt-1", "start": 12.5, "end": 15.0,
        "speaker": "Ben", "snippet": None,
    }
    assert "**budget**" in results[1]["snippet"]

    # Diacritics folded, phrases and prefixes as FTS5 reads them, paging like the other lists.
    zurich = user.client.get("/search", params={"q": "zurich"}).json()["results"]
    assert [r["snippet"].count("**Zürich**") for r in zurich] == [1]
    assert len(user.client.get("/search", params={"q": '"budget was"'}).json()["results"]) == 1
    assert len(user.client.get("/search", params={"q": "budg*"}).json()["results"]) == 2
    page = user.client.get("/search", params={"q": "budget", "limit": 1, "offset": 1}).json()["results"]
    assert [r["meeting_id"] for r in page] == [first]
    assert user.client.get("/search", params={"q": "payroll"}).json() == {"results": []}


def test_another_users_meetings_are_never_found(make_user: Any, db: ApplianceDb) -> None:
    alice, bob = make_user(), make_user()
    seed(db, alice, "srh-alic-eee", [(3.0, "Alice", "The merger codename is Bluebird.")])
    mine = seed(db, bob, "srh-bobb-bbb", [(5.0, "Bob", "Bluebird is also a café downtown.")])
    found = bob.client.get("/search", params={"q": "bluebird"}).json()["results"]
    assert [r["meeting_id"] for r in found] == [mine]
    assert bob.client.get("/search", params={"q": "merger"}).json() == {"results": []}


def test_a_deleted_meeting_is_no_longer_found(make_user: Any, db: ApplianceDb) -> None:
    user = make_user()
    seed(db, user, "srh-dele-ted", [(1.0, "Ana", "The Quillmarsh acquisition closes Friday.")])
    assert len(user.client.get("/search", params={"q": "quillmarsh"}).json()["results"]) == 1
    assert user.client.delete("/meetings/google_meet/srh-dele-ted").status_code == 200
    assert user.client.get("/search", params={"q": "quillmarsh"}).json() == {"results": []}
    # Nor is the word left in the index's pages on disk (FTS5 keeps a deleted row's tokens,
    # lower-cased, until its segments are merged).
    assert b"quillmarsh" not in db.stored_bytes().lower()


def test_a_query_fts5_cannot_read_is_refused_with_how_to_write_one(make_user: Any) -> None:
    user = make_user()
    for q in ('"unbalanced', "AND", "budget OR", "don't", "NEAR(", "nosuchcolumn:word", "*"):
        answer = user.client.get("/search", params={"q": q})
        assert answer.status_code == 422, (q, answer.text)
        assert "double quotes" in answer.json()["detail"], q
    for q in ("", "   "):
        answer = user.client.get("/search", params={"q": q})
        assert answer.status_code == 422 and "empty" in answer.json()["detail"]
    missing = user.client.get("/search")
    assert missing.status_code == 422 and "q" in missing.json()["detail"]
    assert user.client.get("/search", params={"q": '"don\'t"'}).status_code == 200
