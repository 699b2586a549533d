"""The Microsoft 365 provider and its device sign-in against the Graph test double
(tests/calendars/providers/microsoft_double.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from appliance.calendars import oauth
from appliance.calendars.microsoft import DELEGATED_SCOPE, build, device_code_url, token_url
from appliance.calendars.provider import SINGLE_INSTANCE, ConnectionSpec, SyncError
from appliance.config import Settings
from tests.calendars.providers import helpers
from tests.calendars.providers.helpers import by_title, read
from tests.calendars.providers.microsoft_double import GraphDouble

ALICE, BOB = "alice@contoso.example", "bob@contoso.example"
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NDA1@thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d"


def event(event_id: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "iCalUId": f"040000008200E0-{event_id}", "subject": event_id, "type": "singleInstance",
            "start": {"dateTime": start + ".0000000", "timeZone": "UTC"},
            "end": {"dateTime": end + ".0000000", "timeZone": "UTC"}, "isCancelled": False,
            "sensitivity": "normal", "isOrganizer": False, "responseStatus": {"response": "accepted"}, **extra}


sync = partial(read, build)


def user_spec(graph: GraphDouble, user: str = ALICE) -> ConnectionSpec:
    return helpers.user_spec("microsoft", graph, user)


def test_the_device_sign_in_is_pending_until_the_person_approves(graph: GraphDouble, graph_settings: Settings) -> None:
    tenant = graph_settings.calendar_microsoft_tenant
    code = asyncio.run(oauth.start_device_flow(device_code_url(graph_settings, tenant), graph.client_id,
                                               DELEGATED_SCOPE, "Microsoft"))
    assert code.user_code and code.verification_uri == "https://microsoft.com/devicelogin"
    poll = oauth.poll_device_flow(token_url(graph_settings, tenant), graph.client_id, code.device_code,
                                  code.interval_s, "Microsoft")
    assert asyncio.run(poll) == oauth.DevicePending(5.0)

    graph.approve(code.user_code, ALICE)
    grant = asyncio.run(oauth.poll_device_flow(token_url(graph_settings, tenant), graph.client_id,
                                               code.device_code, code.interval_s, "Microsoft"))
    assert isinstance(grant, oauth.TokenGrant) and grant.refresh_token
    assert graph.device_codes == {}  # the code is spent
    graph.put(ALICE, event("planning", "2026-12-07T10:00:00", "2026-12-07T11:00:00"))
    spec = ConnectionSpec(1, "microsoft", ALICE, {"refresh_token": grant.refresh_token})
    assert [e.title for e in sync(graph_settings, spec, None).events] == ["planning"]


def test_a_delta_sync_pages_then_answers_only_changes(graph: GraphDouble, graph_settings: Settings) -> None:
    spec = user_spec(graph)
    graph.put(ALICE, event("planning", "2026-12-07T10:00:00", "2026-12-07T11:00:00",
                           onlineMeeting={"joinUrl": TEAMS}, isOrganizer=True,
                           responseStatus={"response": "organizer"}))
    graph.put(ALICE, event("review", "2026-12-08T10:00:00", "2026-12-08T11:00:00", sensitivity="private",
                           organizer={"emailAddress": {"address": "Carol@Contoso.example"}},
                           responseStatus={"response": "tentativelyAccepted"},
                           body={"contentType": "html", "content":
                                 '<a href="https://meet.google.com/abc-defg-hij?authuser=0&amp;hs=1">Join</a>'}))
    graph.put(ALICE, event("offsite", "2026-12-10T00:00:00", "2026-12-11T00:00:00", isAllDay=True,
                           location={"displayName": "Lisbon"}))
    graph.put(ALICE, event("weekly-occ-1", "2026-12-09T13:00:00", "2026-12-09T13:30:00", type="exception",
                           seriesMasterId="weekly-master", originalStart="2026-12-09T12:00:00Z",
                           onlineMeetingUrl=TEAMS, responseStatus={"response": "notResponded"}))
    graph.put(ALICE, event("cancelled-one", "2026-12-11T10:00:00", "2026-12-11T11:00:00", isCancelled=True))

    first = sync(graph_settings, spec, None)

    assert first.full and len(graph.requests) == 3 and "%24skiptoken=2" in graph.requests[1]
    events = by_title(first)
    planning = events["planning"]
    assert (planning.meeting_url, planning.organizer_email, planning.attendee_status) == (TEAMS, ALICE, "accepted")
    assert planning.start_at == datetime(2026, 12, 7, 10, 0, tzinfo=UTC) and planning.instance_key == SINGLE_INSTANCE
    review = events["review"]
    assert review.is_private and review.attendee_status == "tentative"
    assert review.organizer_email == "carol@contoso.example"
    assert review.meeting_url == "https://meet.google.com/abc-defg-hij?authuser=0&hs=1"  # the body's HTML unescaped
    assert events["offsite"].all_day and events["offsite"].meeting_url is None
    weekly = events["weekly-occ-1"]
    assert (weekly.uid, weekly.instance_key, weekly.attendee_status) == (
        "weekly-master", "2026-12-09T12:00:00+00:00", "needs-action")
    assert events["cancelled-one"].cancelled

    graph.put(ALICE, event("planning", "2026-12-07T15:00:00", "2026-12-07T16:00:00",
                           onlineMeeting={"joinUrl": TEAMS}, isOrganizer=True))
    graph.delete(ALICE, "review")
    second = sync(graph_settings, spec, first.cursor)

    assert "%24deltatoken=" in graph.requests[-1] and not second.full
    changed = by_title(second)
    assert changed["planning"].start_at == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    gone = [e for e in second.events if e.cancelled]
    assert [(e.uid, e.start_at) for e in gone] == [("040000008200E0-review", datetime(2026, 12, 8, 10, 0, tzinfo=UTC))]
    assert sync(graph_settings, spec, second.cursor).events == ()


def test_an_expired_access_token_is_refreshed_and_an_ended_delta_link_resyncs(
        graph: GraphDouble, graph_settings: Settings) -> None:
    spec = user_spec(graph)
    graph.put(ALICE, event("planning", "2026-12-07T10:00:00", "2026-12-07T11:00:00"))
    first = sync(graph_settings, spec, None)
    graph.expire_access_tokens()
    graph.put(ALICE, event("retro", "2026-12-08T10:00:00", "2026-12-08T11:00:00"))
    assert [e.title for e in sync(graph_settings, spec, first.cursor).events] == ["retro"]
    assert [r["grant_type"] for r in graph.token_requests] == ["refresh_token", "refresh_token"]

    graph.expired_delta_tokens = True
    with pytest.raises(SyncError) as failed:
        sync(graph_settings, spec, first.cursor)
    assert failed.value.cursor_expired
    assert sorted(e.title for e in sync(graph_settings, spec, None).events) == ["planning", "retro"]


def test_429_carries_retry_after_and_a_revoked_sign_in_says_reconnect(graph: GraphDouble,
                                                                      graph_settings: Settings) -> None:
    spec = user_spec(graph)
    graph.rate_limited.append(30)
    with pytest.raises(SyncError) as limited:
        sync(graph_settings, spec, None)
    assert limited.value.retry_after_s == 30

    graph.revoke(ALICE)
    graph.expire_access_tokens()
    with pytest.raises(SyncError) as revoked:
        sync(graph_settings, spec, None)
    assert "reconnect the calendar" in revoked.value.message


def test_a_delta_link_to_another_host_is_not_followed(graph: GraphDouble, graph_settings: Settings) -> None:
    cursor = '{"users": {"%s": {"token": "https://elsewhere.example/v1.0/me/calendarView/delta", "index": {}}}}' % ALICE
    with pytest.raises(SyncError, match="not followed"):
        sync(graph_settings, user_spec(graph), cursor)
    assert graph.requests == []


def test_an_app_reads_every_users_calendar_organisation_wide(graph: GraphDouble, graph_settings: Settings) -> None:
    graph.put(ALICE, event("alice-1", "2026-12-07T10:00:00", "2026-12-07T11:00:00"))
    graph.put(BOB, event("bob-1", "2026-12-07T12:00:00", "2026-12-07T13:00:00"))
    spec = ConnectionSpec(connection_id=5, kind="microsoft", owner_email="", secret={
        "tenant": graph.tenant, "client_id": graph.app_id, "client_secret": graph.app_secret},
        settings={"user_emails": [BOB, ALICE]})

    result = sync(graph_settings, spec, None)

    assert sorted((e.owner_email, e.title) for e in result.events) == [(ALICE, "alice-1"), (BOB, "bob-1")]
    assert sorted(u.split("/v1.0")[1].split("?")[0] for u in graph.requests) == [
        f"/users/{ALICE}/calendarView/delta", f"/users/{BOB}/calendarView/delta"]
    assert [r["grant_type"] for r in graph.token_requests] == ["client_credentials"]  # one app token for all
    graph.delete(BOB, "bob-1")
    later = sync(graph_settings, spec, result.cursor)
    assert [(e.owner_email, e.title, e.cancelled) for e in later.events] == [(BOB, "", True)]
