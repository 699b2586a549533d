"""GET /transcripts/{platform}/{id} (json, txt, srt, vtt), share links and the public text."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import ApiUser, ApplianceDb, db_time, meet_code, utcnow
from tests.conftest import Appliance

SEGMENT_FIELDS = {
    "segment_id", "start", "end", "text", "language", "speaker", "completed",
    "absolute_start_time", "absolute_end_time", "created_at", "updated_at",
}


def seeded_meeting(user: ApiUser, db: ApplianceDb, **data: Any) -> tuple[int, str]:
    code = meet_code()
    return db.insert_meeting(user.id, native_meeting_id=code, data=data or None), code


def test_a_meeting_without_segments_has_an_empty_transcript(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    meeting_id, code = seeded_meeting(user, db, notes="Agenda: budget")
    answer = user.client.get(f"/transcripts/google_meet/{code}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {
        "id", "platform", "native_meeting_id", "constructed_meeting_url", "status", "start_time",
        "end_time", "recordings", "notes", "segments",
    }
    assert body["id"] == meeting_id and body["status"] == "completed"
    assert body["segments"] == [] and body["recordings"] == []
    assert body["notes"] == "Agenda: budget"

    txt = user.client.get(f"/transcripts/google_meet/{code}", params={"format": "txt"})
    assert txt.status_code == 200 and txt.text == ""
    assert txt.headers["content-type"].startswith("text/plain")
    vtt = user.client.get(f"/transcripts/google_meet/{code}", params={"format": "vtt"})
    assert vtt.text == "WEBVTT\n"
    assert user.client.get(f"/transcripts/google_meet/{code}", params={"format": "srt"}).text == ""


def test_segments_come_in_time_order_in_every_format(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    meeting_id, code = seeded_meeting(user, db)
    # Inserted out of order, the way late segments arrive.
    db.insert_segment(meeting_id, "seg-c", 65.25, 68.0, "  Let's start.  ", speaker=None, completed=False)
    db.insert_segment(meeting_id, "seg-a", 0.0, 4.2, "Hello everyone.", speaker="Alice")
    db.insert_segment(meeting_id, "seg-empty", 30.0, 31.0, "   ", speaker="Bob")
    db.insert_segment(meeting_id, "seg-b", 5.5, 9.75, "Hi Alice.", speaker="Bob", language="de")
    seg_d = db.insert_segment(meeting_id, "seg-d", 3725.5, 3726.0, "An hour later.", speaker="Alice")
    db.execute(
        "UPDATE transcript_segments SET absolute_start_time = ?, absolute_end_time = ? WHERE id = ?",
        "2026-03-02 10:02:05.500000", "2026-03-02 10:02:06.000000", seg_d,
    )
    base = f"/transcripts/google_meet/{code}"

    body = user.client.get(base).json()
    segments = body["segments"]
    assert [s["segment_id"] for s in segments] == ["seg-a", "seg-b", "seg-empty", "seg-c", "seg-d"]
    assert all(set(s) == SEGMENT_FIELDS for s in segments)
    assert segments[1] == {**segments[1], "start": 5.5, "end": 9.75, "text": "Hi Alice.",
                           "speaker": "Bob", "language": "de", "completed": True}
    assert segments[3]["completed"] is False
    assert segments[4]["absolute_start_time"] == "2026-03-02T10:02:05.500000Z"
    assert segments[4]["absolute_end_time"] == "2026-03-02T10:02:06Z"
    assert segments[0]["absolute_start_time"] is None

    txt = user.client.get(base, params={"format": "txt"})
    assert txt.text == (
        "[00:00:00] Alice: Hello everyone.\n"
        "[00:00:05] Bob: Hi Alice.\n"
        "[00:01:05] Let's start.\n"
        "[01:02:05] Alice: An hour later.\n"
    )
    assert f'filename="google_meet-{code}-{meeting_id}.txt"' in txt.headers["content-disposition"]

    srt = user.client.get(base, params={"format": "srt"})
    assert srt.status_code == 200
    assert srt.text == (
        "1\n00:00:00,000 --> 00:00:04,200\nAlice: Hello everyone.\n\n"
        "2\n00:00:05,500 --> 00:00:09,750\nBob: Hi Alice.\n\n"
        "3\n00:01:05,250 --> 00:01:08,000\nLet's start.\n\n"
        "4\n01:02:05,500 --> 01:02:06,000\nAlice: An hour later.\n"
    )
    assert f"{meeting_id}.srt" in srt.headers["content-disposition"]

    vtt = user.client.get(base, params={"format": "vtt"})
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:04.200\n<v Alice>Hello everyone.\n\n"
        "00:00:05.500 --> 00:00:09.750\n<v Bob>Hi Alice.\n\n"
        "00:01:05.250 --> 00:01:08.000\nLet's start.\n\n"
        "01:02:05.500 --> 01:02:06.000\n<v Alice>An hour later.\n"
    )


def test_transcript_errors(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    _, code = seeded_meeting(user, db)
    bad_format = user.client.get(f"/transcripts/google_meet/{code}", params={"format": "docx"})
    assert bad_format.status_code == 422 and "query.format" in bad_format.json()["detail"]
    bad_platform = user.client.get(f"/transcripts/skype/{code}")
    assert bad_platform.status_code == 422 and "unknown platform" in bad_platform.json()["detail"]
    assert user.client.get("/transcripts/google_meet/zzz-zzzz-zzz").status_code == 404
    assert user.client.get(f"/transcripts/teams/{code}").status_code == 404
    wrong_id = user.client.get(f"/transcripts/google_meet/{code}", params={"meeting_id": "x"})
    assert wrong_id.status_code == 422 and "query.meeting_id" in wrong_id.json()["detail"]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_share_link_serves_the_text_without_a_key_until_it_expires(
    appliance: Appliance, make_user: Any, db: ApplianceDb
) -> None:
    user: ApiUser = make_user()
    meeting_id, code = seeded_meeting(user, db)
    db.insert_segment(meeting_id, "s2", 2.0, 3.0, "Second.", speaker="Bob")
    db.insert_segment(meeting_id, "s1", 0.0, 1.0, "First.", speaker="Ana")

    before = utcnow()
    shared = user.client.post(f"/transcripts/google_meet/{code}/share", json={})
    assert shared.status_code == 200, shared.text
    share = shared.json()
    assert share["share_id"].startswith("vms_") and len(share["share_id"]) >= 40
    assert share["url"] == f"{appliance.base_url}/public/transcripts/{share['share_id']}.txt"
    week = parse_time(share["expires_at"]) - before
    assert timedelta(days=7) - timedelta(minutes=1) < week <= timedelta(days=7, minutes=1)

    with httpx.Client(timeout=30) as anonymous:
        public = anonymous.get(share["url"])
        assert public.status_code == 200, public.text
        assert public.headers["content-type"].startswith("text/plain")
        assert public.text == "[00:00:00] Ana: First.\n[00:00:02] Bob: Second.\n"

        # Only a hash of the link is stored.
        digest = hashlib.sha256(share["share_id"].encode()).hexdigest()
        stored = db.row("SELECT meeting_id, expires_at FROM share_links WHERE share_hash = ?", digest)
        assert stored is not None and stored["meeting_id"] == meeting_id
        assert share["share_id"].encode() not in db.stored_bytes()

        hour = user.client.post(f"/transcripts/google_meet/{code}/share", json={"ttl_seconds": 3600}).json()
        assert abs(parse_time(hour["expires_at"]) - utcnow() - timedelta(hours=1)) < timedelta(minutes=1)
        assert anonymous.get(hour["url"]).status_code == 200
        # Expiry, without waiting: the link's time has come.
        db.execute(
            "UPDATE share_links SET expires_at = ? WHERE share_hash = ?",
            db_time(utcnow() - timedelta(seconds=1)), hashlib.sha256(hour["share_id"].encode()).hexdigest(),
        )
        expired = anonymous.get(hour["url"])
        assert expired.status_code == 404
        assert "expired" in expired.json()["detail"]
        assert anonymous.get(share["url"]).status_code == 200  # the other link still works
        assert anonymous.get(f"{appliance.base_url}/public/transcripts/vms_unknown.txt").status_code == 404


@pytest.mark.parametrize(("body", "says"), [({"ttl_seconds": 10}, "body.ttl_seconds"),
                                            ({"ttl_seconds": "soon"}, "body.ttl_seconds")])
def test_bad_share_requests_are_422(make_user: Any, db: ApplianceDb, body: dict[str, Any], says: str) -> None:
    user: ApiUser = make_user()
    _, code = seeded_meeting(user, db)
    answer = user.client.post(f"/transcripts/google_meet/{code}/share", json=body)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]


def test_sharing_an_unknown_meeting_is_404(make_user: Any) -> None:
    answer = make_user().client.post("/transcripts/google_meet/abc-defg-hij/share", json={})
    assert answer.status_code == 404


def test_share_links_honour_the_query_form_and_can_be_listed_and_revoked(
    appliance: Appliance, make_user: Any, db: ApplianceDb
) -> None:
    """`?ttl_seconds=` was ignored and a link could not be revoked (issue)."""
    user: ApiUser = make_user()
    _, code = seeded_meeting(user, db)
    path = f"/transcripts/google_meet/{code}"
    by_query = user.client.post(f"{path}/share", params={"ttl_seconds": 600})
    assert by_query.status_code == 200, by_query.text
    assert abs(parse_time(by_query.json()["expires_at"]) - utcnow() - timedelta(minutes=10)) < timedelta(minutes=1)
    assert by_query.json()["reachable_from"] == "this_machine"  # the test server listens on loopback
    clash = user.client.post(f"{path}/share", params={"ttl_seconds": 600}, json={"ttl_seconds": 900})
    assert clash.status_code == 422 and "send it once" in clash.json()["detail"]
    short = user.client.post(f"{path}/share", params={"ttl_seconds": 5})
    assert short.status_code == 422 and "query.ttl_seconds" in short.json()["detail"]
    second = user.client.post(f"{path}/share", json={}).json()

    listed = user.client.get(f"{path}/shares").json()["shares"]
    assert [s["id"] for s in listed] == [by_query.json()["id"], second["id"]]
    assert all(not s["expired"] for s in listed) and "share_id" not in listed[0]

    with httpx.Client(timeout=30) as anonymous:
        assert anonymous.get(second["url"]).status_code == 200
        assert user.client.delete(f"{path}/shares/{second['share_id']}").status_code == 204
        assert anonymous.get(second["url"]).status_code == 404
        assert user.client.delete(f"{path}/shares/{by_query.json()['id']}").status_code == 204
        assert anonymous.get(by_query.json()["url"]).status_code == 404
    assert user.client.get(f"{path}/shares").json()["shares"] == []
    assert user.client.delete(f"{path}/shares/{second['id']}").status_code == 404
    other: ApiUser = make_user()
    assert other.client.delete(f"{path}/shares/1").status_code == 404  # not their meeting


def test_a_share_link_names_an_address_a_colleague_can_open() -> None:
    from appliance.netinfo import lan_ipv4_addresses, reachable_base_url

    configured = "https://notes.example.lan"
    assert reachable_base_url("0.0.0.0", 8056, configured) == (configured, "configured")
    assert reachable_base_url("127.0.0.1", 8056, None) == ("http://127.0.0.1:8056", "this_machine")
    assert reachable_base_url("192.168.4.9", 8056, None) == ("http://192.168.4.9:8056", "lan")
    # With TLS on the port speaks HTTPS, so the link people get must say so (docs/tls.md).
    assert reachable_base_url("192.168.4.9", 8056, None, "https") == ("https://192.168.4.9:8056", "lan")
    lan = lan_ipv4_addresses()
    url, reach = reachable_base_url("0.0.0.0", 8056, None)
    assert (url, reach) == ((f"http://{lan[0]}:8056", "lan") if lan else ("http://127.0.0.1:8056", "this_machine"))
