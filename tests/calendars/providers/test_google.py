"""The Google Calendar provider against its test double (tests/calendars/providers/google_double.py):
what a user would see of their calendar after each sync."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from appliance.calendars import oauth
from appliance.calendars.google import build
from appliance.calendars.provider import SINGLE_INSTANCE, ConnectionSpec, SyncError
from appliance.config import Settings
from client.google_signin import new_pkce
from tests.calendars.providers import helpers
from tests.calendars.providers.google_double import GoogleDouble, service_account
from tests.calendars.providers.helpers import by_title, read

ALICE, BOB = "alice@example.com", "bob@example.com"


def event(event_id: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "status": "confirmed", "iCalUID": f"{event_id}@google.com", "summary": event_id,
            "start": {"dateTime": start}, "end": {"dateTime": end}, **extra}


sync = partial(read, build)


def user_spec(google: GoogleDouble, user: str = ALICE) -> ConnectionSpec:
    return helpers.user_spec("google", google, user)


def test_a_full_sync_pages_through_every_field_the_rules_need(google: GoogleDouble, google_settings: Settings) -> None:
    google.put(ALICE, event("standup", "2026-12-07T10:00:00-05:00", "2026-12-07T10:30:00-05:00",
                            conferenceData={"entryPoints": [
                                {"entryPointType": "phone", "uri": "tel:+1-555-0100"},
                                {"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}]},
                            organizer={"email": ALICE, "self": True}))
    google.put(ALICE, event("review", "2026-12-08T15:30:00+05:30", "2026-12-08T16:30:00+05:30",
                            hangoutLink="https://meet.google.com/kkk-mmmm-nnn", visibility="private",
                            organizer={"email": "carol@example.com"},
                            attendees=[{"email": ALICE, "self": True, "responseStatus": "tentative"},
                                       {"email": "carol@example.com", "responseStatus": "accepted"}]))
    google.put(ALICE, event("teams", "2026-12-09T08:00:00Z", "2026-12-09T09:00:00Z",
                            description="Join: https://teams.microsoft.com/l/meetup-join/19%3ameeting_Q1@thread.v2/0",
                            attendees=[{"email": ALICE, "self": True, "responseStatus": "needsAction"}]))
    google.put(ALICE, {**event("lunch", "", "", location="The canteen"),
                       "start": {"date": "2026-12-10"}, "end": {"date": "2026-12-11"}})
    google.put(ALICE, event("weekly_20261208T120000Z", "2026-12-08T13:00:00Z", "2026-12-08T13:30:00Z",
                            recurringEventId="weekly", originalStartTime={"dateTime": "2026-12-08T12:00:00Z"},
                            iCalUID="weekly@google.com", location="https://meet.google.com/ppp-qqqq-rrr"))
    google.put(ALICE, event("long-ago", "2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z"))

    result = sync(google_settings, user_spec(google), None)

    assert result.full and result.cursor
    pages = [q for _, q in google.requests]
    assert len(pages) == 3 and "pageToken" not in pages[0] and pages[1]["pageToken"] == "2", pages
    events = by_title(result)
    assert sorted(events) == ["lunch", "review", "standup", "teams", "weekly_20261208T120000Z"]
    standup = events["standup"]
    assert (standup.start_at, standup.end_at) == (datetime(2026, 12, 7, 15, 0, tzinfo=UTC),
                                                  datetime(2026, 12, 7, 15, 30, tzinfo=UTC))
    assert standup.meeting_url == "https://meet.google.com/abc-defg-hij"  # the video entry, not the phone one
    assert (standup.organizer_email, standup.attendee_status, standup.owner_email) == (ALICE, "accepted", ALICE)
    assert (standup.uid, standup.instance_key) == ("standup@google.com", SINGLE_INSTANCE)
    review = events["review"]
    assert review.start_at == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    assert (review.meeting_url, review.is_private, review.attendee_status) == (
        "https://meet.google.com/kkk-mmmm-nnn", True, "tentative")
    assert (events["teams"].meeting_url or "").startswith("https://teams.microsoft.com/l/meetup-join/")
    assert events["teams"].attendee_status == "needs-action"
    lunch = events["lunch"]
    assert lunch.all_day and lunch.meeting_url is None and lunch.start_at == datetime(2026, 12, 10, tzinfo=UTC)
    weekly = events["weekly_20261208T120000Z"]  # a moved instance keeps the key of its original start
    assert (weekly.uid, weekly.instance_key) == ("weekly@google.com", "2026-12-08T12:00:00+00:00")
    assert weekly.start_at == datetime(2026, 12, 8, 13, 0, tzinfo=UTC)


def test_the_next_sync_asks_only_for_changes_and_sees_moves_and_deletions(
        google: GoogleDouble, google_settings: Settings) -> None:
    spec = user_spec(google)
    google.put(ALICE, event("planning", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z",
                            hangoutLink="https://meet.google.com/abc-defg-hij"))
    google.put(ALICE, event("retro", "2026-12-08T10:00:00Z", "2026-12-08T11:00:00Z"))
    google.put(ALICE, event("demo", "2026-12-09T10:00:00Z", "2026-12-09T11:00:00Z"))
    first = sync(google_settings, spec, None)

    google.put(ALICE, event("planning", "2026-12-07T14:00:00Z", "2026-12-07T15:00:00Z",
                            hangoutLink="https://meet.google.com/abc-defg-hij"))
    google.delete(ALICE, "retro")  # the API then shows only {"id": "retro", "status": "cancelled"}
    second = sync(google_settings, spec, first.cursor)

    last_query = google.requests[-1][1]
    assert first.cursor and last_query["syncToken"] == json.loads(first.cursor)["users"][ALICE]["token"]
    assert "timeMin" not in last_query
    assert not second.full
    changed = {e.uid: e for e in second.events}
    assert sorted(changed) == ["planning@google.com", "retro@google.com"]
    assert changed["planning@google.com"].start_at == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert not changed["planning@google.com"].cancelled
    gone = changed["retro@google.com"]
    assert gone.cancelled and gone.instance_key == SINGLE_INSTANCE
    assert gone.start_at == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # from the cursor's index

    third = sync(google_settings, spec, second.cursor)
    assert third.events == ()


def test_an_expired_access_token_is_refreshed_once_and_the_sync_goes_on(
        google: GoogleDouble, google_settings: Settings) -> None:
    spec = user_spec(google)
    google.put(ALICE, event("planning", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"))
    first = sync(google_settings, spec, None)
    assert len(google.token_requests) == 1
    assert google.token_requests[0]["client_secret"] == google.client_secret  # read from the secret file

    google.expire_access_tokens()
    google.put(ALICE, event("retro", "2026-12-08T10:00:00Z", "2026-12-08T11:00:00Z"))
    second = sync(google_settings, spec, first.cursor)

    assert [e.title for e in second.events] == ["retro"]
    assert [r["grant_type"] for r in google.token_requests] == ["refresh_token", "refresh_token"]


def test_a_revoked_refresh_token_asks_the_user_to_reconnect(google: GoogleDouble, google_settings: Settings) -> None:
    spec = user_spec(google)
    google.refresh_tokens.clear()  # the user removed the box's access in their Google account
    with pytest.raises(SyncError) as failed:
        sync(google_settings, spec, None)
    assert "reconnect the calendar" in failed.value.message
    assert spec.secret["refresh_token"] not in failed.value.message


def test_an_ended_sync_token_makes_the_engine_resync_in_full(google: GoogleDouble, google_settings: Settings) -> None:
    spec = user_spec(google)
    for n in range(3):
        google.put(ALICE, event(f"m{n}", f"2026-12-0{7 + n}T10:00:00Z", f"2026-12-0{7 + n}T11:00:00Z"))
    first = sync(google_settings, spec, None)
    google.expired_sync_tokens = True
    with pytest.raises(SyncError) as failed:
        sync(google_settings, spec, first.cursor)
    assert failed.value.cursor_expired
    again = sync(google_settings, spec, None)
    assert again.full and sorted(e.uid for e in again.events) == sorted(e.uid for e in first.events)


@pytest.mark.parametrize("status", [429, 403])
def test_a_rate_limit_answer_carries_its_retry_after(status: int, google: GoogleDouble,
                                                     google_settings: Settings) -> None:
    google.rate_limited.append((status, 120))
    with pytest.raises(SyncError) as failed:
        sync(google_settings, user_spec(google), None)
    assert failed.value.retry_after_s == 120 and not failed.value.cursor_expired


def test_the_code_the_users_machine_got_is_exchanged_for_a_refresh_token(
        google: GoogleDouble, google_settings: Settings) -> None:
    pkce = new_pkce()  # what the desktop client makes (client/google_signin.py)
    verifier, challenge = pkce.verifier, pkce.challenge
    redirect = "http://127.0.0.1:53682/"
    code = google.issue_code(BOB, challenge, redirect)
    with pytest.raises(oauth.OAuthError):  # a code is tied to its verifier
        asyncio.run(oauth.exchange_code(google.token_url, google.client_id, google.client_secret, code,
                                        "not-the-verifier", redirect, "Google"))
    code = google.issue_code(BOB, challenge, redirect)
    grant = asyncio.run(oauth.exchange_code(google.token_url, google.client_id, google.client_secret, code,
                                            verifier, redirect, "Google"))
    assert grant.refresh_token and google.refresh_tokens[grant.refresh_token] == BOB
    google.put(BOB, event("one-to-one", "2026-12-07T10:00:00Z", "2026-12-07T10:30:00Z"))
    spec = ConnectionSpec(connection_id=2, kind="google", owner_email=BOB,
                          secret={"refresh_token": grant.refresh_token})
    assert [e.owner_email for e in sync(google_settings, spec, None).events] == [BOB]


def test_organisation_wide_access_reads_each_users_calendar_as_that_user(
        google: GoogleDouble, google_settings: Settings) -> None:
    key, public_key = service_account()
    google.service_accounts[key["client_email"]] = public_key
    google.put(ALICE, event("alice-1", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"))
    google.put(BOB, event("bob-1", "2026-12-07T12:00:00Z", "2026-12-07T13:00:00Z"))
    google.put(BOB, event("bob-2", "2026-12-08T12:00:00Z", "2026-12-08T13:00:00Z"))
    spec = ConnectionSpec(connection_id=3, kind="google", owner_email="admin", secret={
        "service_account_key": json.dumps(key)}, settings={
        "domain": "example.com", "user_emails": [ALICE, BOB, "guest@elsewhere.example"]})

    result = sync(google_settings, spec, None)

    assert sorted((e.owner_email, e.title) for e in result.events) == [
        (ALICE, "alice-1"), (BOB, "bob-1"), (BOB, "bob-2")]
    assertions = [r for r in google.token_requests if r["grant_type"] == oauth.GOOGLE_JWT_GRANT]
    assert len(assertions) == 2  # one signed assertion per user, verified by the double's public key
    google.put(BOB, event("bob-3", "2026-12-09T12:00:00Z", "2026-12-09T13:00:00Z"))
    later = sync(google_settings, spec, result.cursor)
    assert [(e.owner_email, e.title) for e in later.events] == [(BOB, "bob-3")] and not later.full


def test_a_key_of_another_service_account_is_refused(google: GoogleDouble, google_settings: Settings) -> None:
    key, _ = service_account()
    _, other_public = service_account()
    google.service_accounts[key["client_email"]] = other_public  # Google knows a different key
    google.put(ALICE, event("alice-1", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"))
    spec = ConnectionSpec(connection_id=3, kind="google", owner_email="admin",
                          secret={"service_account_key": json.dumps(key)}, settings={"user_emails": [ALICE]})
    with pytest.raises(SyncError) as failed:
        sync(google_settings, spec, None)
    assert "invalid_grant" in failed.value.message


def test_no_token_or_client_secret_reaches_a_log_line(google: GoogleDouble, google_settings: Settings,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    spec = user_spec(google)
    google.put(ALICE, event("planning", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"))
    with caplog.at_level(logging.DEBUG):
        first = sync(google_settings, spec, None)
        google.expire_access_tokens()
        sync(google_settings, spec, first.cursor)
    assert caplog.records, "httpx logs its requests at this level"
    secrets = [spec.secret["refresh_token"], google.client_secret, *google.access_tokens]
    assert not [r.getMessage() for r in caplog.records if any(s in r.getMessage() for s in secrets)]
