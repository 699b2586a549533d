"""/calendars through the running appliance (`vomeet serve` on loopback): create after a test
read, list, get, test, sync now, rules, delete; users see only their own connections, and no
answer nor the server's log shows the feed's secret address or a CalDAV password."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.calendars.conftest import USERS, FeedServer, RadicaleServer
from tests.conftest import Appliance, free_port


def _feed_body(meet_base: str) -> str:
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Vomeet tests//EN\r\nBEGIN:VEVENT\r\nUID:api-1@x\r\n"
        f"DTSTAMP:{start.strftime(stamp)}\r\nDTSTART:{start.strftime(stamp)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(stamp)}\r\nSUMMARY:Sync\r\n"
        f"LOCATION:{meet_base}/api-test-mtg\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
def users(appliance: Appliance) -> tuple[str, str]:
    suffix = free_port()
    return appliance.new_user(f"cal-a-{suffix}@example.com")[1], appliance.new_user(f"cal-b-{suffix}@example.com")[1]


def test_connections_are_made_read_and_removed_without_showing_the_secret(
    appliance: Appliance, feed: FeedServer, users: tuple[str, str]
) -> None:
    alice_token, bob_token = users
    feed.publish(_feed_body(appliance.env["VOMEET_GOOGLE_MEET_BASE_URL"]))
    with appliance.client(alice_token) as alice, appliance.client(bob_token) as bob:
        made = alice.post("/calendars", json={"kind": "ics", "url": feed.url, "name": "Work"})
        assert made.status_code == 201, made.text
        connection = made.json()
        assert feed.secret not in made.text
        assert (connection["kind"], connection["name"], connection["hint"]) == ("ics", "Work", "127.0.0.1")
        assert connection["upcoming_events"] == 1 and connection["last_sync_at"] and connection["next_sync_at"]
        path = f"/calendars/{connection['id']}"

        listed = alice.get("/calendars")
        assert [c["id"] for c in listed.json()["calendars"]] == [connection["id"]]
        assert feed.secret not in listed.text and feed.secret not in alice.get(path).text
        assert bob.get("/calendars").json() == {"calendars": []}
        assert bob.get(path).status_code == 404 and bob.delete(path).status_code == 404

        assert alice.post(f"{path}/test").json() == {"ok": True, "error": None}
        feed.fail_status = 500
        assert alice.post(f"{path}/test").json() == {"ok": False, "error": "the feed at 127.0.0.1 answered HTTP 500"}
        synced = alice.post(f"{path}/sync").json()
        assert (synced["last_error"], synced["consecutive_failures"]) == ("the feed at 127.0.0.1 answered HTTP 500", 1)
        assert synced["upcoming_events"] == 1  # what was stored is kept
        feed.fail_status = None
        assert alice.post(f"{path}/sync").json()["consecutive_failures"] == 0

        refused = alice.patch(path, json={"rules": {"mode": "keyword"}})
        assert refused.status_code == 422 and "keyword" in refused.json()["detail"]
        patched = alice.patch(path, json={"rules": {"mode": "keyword", "keywords": ["Sync"]}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["rules"] == {"mode": "keyword", "keywords": ["Sync"], "skip_private": True}

        assert alice.delete(path).status_code == 204
        assert alice.get(path).status_code == 404
    log = appliance.log_path.read_text(errors="replace")
    assert f"GET {feed.base_url}[redacted]" in log and feed.secret not in log  # its fetches, masked


def test_a_calendar_that_cannot_be_read_is_a_clear_422(
    appliance: Appliance, radicale: RadicaleServer, users: tuple[str, str]
) -> None:
    alice_token, _ = users
    nothing_there = f"http://127.0.0.1:{free_port()}/private/feed.ics"
    caldav_user = next(iter(USERS))
    calendar_url = radicale.make_calendar(caldav_user, f"api-{free_port()}")
    with appliance.client(alice_token) as alice:
        unreachable = alice.post("/calendars", json={"kind": "ics", "url": nothing_there})
        assert unreachable.status_code == 422
        assert unreachable.json()["detail"] == "the calendar could not be read: the feed at 127.0.0.1 cannot be " \
            "fetched (ConnectError)"
        wrong = alice.post("/calendars", json={"kind": "caldav", "url": calendar_url, "username": caldav_user,
                                               "password": "wrong-password-123"})
        assert wrong.status_code == 422 and "refused the login" in wrong.json()["detail"]
        assert "wrong-password-123" not in wrong.text
        missing = alice.post("/calendars", json={"kind": "caldav", "url": calendar_url})
        assert missing.status_code == 422 and "password" in missing.json()["detail"]

        made = alice.post("/calendars", json={"kind": "caldav", "url": calendar_url, "username": caldav_user,
                                              "password": USERS[caldav_user]})
        assert made.status_code == 201, made.text
        assert made.json()["hint"] == f"{caldav_user}@127.0.0.1" and USERS[caldav_user] not in made.text
        assert made.json()["settings"] == {"url": calendar_url, "username": caldav_user}
        assert alice.delete(f"/calendars/{made.json()['id']}").status_code == 204
    assert USERS[caldav_user] not in appliance.log_path.read_text(errors="replace")
