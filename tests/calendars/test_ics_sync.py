"""ICS feeds, synced from a feed the test serves over loopback HTTP into a real SQLite file: the
instances stored (recurrences, exceptions, time zones, all-day, cancelled), conditional fetches,
moves and cancellations, failures with backoff and one webhook, and the feed's secret address
kept out of the database in clear, the API's answers and every log line."""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import stat
from contextlib import closing
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select

from appliance.calendars import service, sync
from appliance.calendars.provider import SINGLE_INSTANCE
from appliance.calendars.secrets import key_path
from appliance.config import Settings
from appliance.db.models import CalendarConnection, CalendarEventRecord, OutboxEvent, ScheduledMeeting, User
from appliance.logging_redact import FORMAT, RedactingFormatter
from tests.calendars.conftest import MEETING_HOST, Box, FeedServer, run

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
ALICE = "alice@example.com"


def calendar(*events: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Vomeet tests//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"


def vevent(uid: str, start: str, end: str, summary: str, *extra: str) -> str:
    lines = [f"UID:{uid}", "DTSTAMP:20261101T000000Z", f"DTSTART{start}", f"DTEND{end}", f"SUMMARY:{summary}",
             f"ORGANIZER:mailto:{ALICE}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ALICE}", *extra]
    return "BEGIN:VEVENT\r\n" + "".join(line + "\r\n" for line in lines) + "END:VEVENT\r\n"


MEET = f"{MEETING_HOST}/abc-defg-hij"
PLANNING = vevent("planning@x", ":20261202T150000Z", ":20261202T160000Z", "Planning", f"LOCATION:{MEET}")
# Daily at 09:00 New York, 2-6 December: the 3rd is excluded, the 4th moved to 11:00.
STANDUP = vevent("standup@x", ";TZID=America/New_York:20261202T090000", ";TZID=America/New_York:20261202T091500",
                 "Standup", "RRULE:FREQ=DAILY;COUNT=5", "EXDATE;TZID=America/New_York:20261203T090000",
                 "X-GOOGLE-CONFERENCE:https://meet.google.com/std-updr-oom")
STANDUP_MOVED = vevent("standup@x", ";TZID=America/New_York:20261204T110000",
                       ";TZID=America/New_York:20261204T111500", "Standup (later)",
                       "RECURRENCE-ID;TZID=America/New_York:20261204T090000")
KOLKATA = vevent("india@x", ";TZID=Asia/Kolkata:20261203T100000", ";TZID=Asia/Kolkata:20261203T110000",
                 "Review", "X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.live.com/meet/9876543210123?p=AbCdEf12",
                 "CLASS:PRIVATE")
OFFSITE = vevent("offsite@x", ";VALUE=DATE:20261205", ";VALUE=DATE:20261206", "Offsite")
FEED = calendar(PLANNING, STANDUP, STANDUP_MOVED, KOLKATA, OFFSITE)


async def _connect(box: Box, url: str, now: datetime = NOW) -> int:
    async with box.db.session() as session:
        alice = await session.get(User, 1)
    assert alice is not None
    outcome = await service.create(box, alice, service.ics_draft(url, None, {}), now)
    return outcome.connection_id


async def _events(box: Box) -> dict[tuple[str, str], CalendarEventRecord]:
    async with box.db.session() as session:
        rows = await session.scalars(select(CalendarEventRecord))
        return {(r.uid, r.instance_key): r for r in rows}


async def _connection(box: Box, connection_id: int) -> CalendarConnection:
    async with box.db.session() as session:
        found = await session.get(CalendarConnection, connection_id)
    assert found is not None
    return found


def test_a_feed_lands_as_instances_at_the_right_utc_times(settings: Settings, feed: FeedServer) -> None:
    feed.publish(FEED)

    async def scenario(box: Box) -> dict[tuple[str, str], CalendarEventRecord]:
        await _connect(box, feed.url)
        return await _events(box)

    events = run(settings, scenario)
    assert sorted(events) == sorted([
        ("planning@x", SINGLE_INSTANCE), ("india@x", SINGLE_INSTANCE), ("offsite@x", SINGLE_INSTANCE),
        ("standup@x", "2026-12-02T14:00:00+00:00"), ("standup@x", "2026-12-04T14:00:00+00:00"),
        ("standup@x", "2026-12-05T14:00:00+00:00"), ("standup@x", "2026-12-06T14:00:00+00:00"),
    ])  # the EXDATE'd 3 December is not there
    utc = timezone.utc
    assert events["standup@x", "2026-12-02T14:00:00+00:00"].start_at == datetime(2026, 12, 2, 14, 0, tzinfo=utc)
    moved = events["standup@x", "2026-12-04T14:00:00+00:00"]  # keyed by where the rule put it
    assert (moved.start_at, moved.title) == (datetime(2026, 12, 4, 16, 0, tzinfo=utc), "Standup (later)")
    india = events["india@x", SINGLE_INSTANCE]
    assert india.start_at == datetime(2026, 12, 3, 4, 30, tzinfo=utc)  # 10:00 IST is 04:30 UTC
    assert india.meeting_url == "https://teams.live.com/meet/9876543210123?p=AbCdEf12" and india.is_private
    assert events["planning@x", SINGLE_INSTANCE].meeting_url == MEET
    assert events["planning@x", SINGLE_INSTANCE].attendee_status == "accepted"
    assert events["standup@x", "2026-12-05T14:00:00+00:00"].meeting_url == "https://meet.google.com/std-updr-oom"
    offsite = events["offsite@x", SINGLE_INSTANCE]
    assert offsite.all_day and offsite.start_at == datetime(2026, 12, 5, tzinfo=utc)
    assert offsite.meeting_url is None


def test_an_unchanged_feed_is_not_parsed_again_and_a_change_moves_and_cancels(
    settings: Settings, feed: FeedServer
) -> None:
    feed.publish(FEED)

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, feed.url)
        assert (await _connection(box, connection_id)).next_sync_at == NOW + timedelta(minutes=5)
        later = NOW + timedelta(minutes=5)
        unchanged = await sync.sync_connection(box, connection_id, later)
        assert unchanged is not None and unchanged.ok and unchanged.upserted == 0
        assert feed.requests[-1]["if-none-match"] == feed.etag and "if-modified-since" in feed.requests[-1]
        assert len(feed.requests) == 2

        moved_planning = PLANNING.replace("20261202T150000Z", "20261202T170000Z").replace(
            "20261202T160000Z", "20261202T180000Z")
        feed.publish(calendar(moved_planning, STANDUP, STANDUP_MOVED, KOLKATA.replace(
            "CLASS:PRIVATE", "STATUS:CANCELLED")))  # the offsite is deleted, the review cancelled
        changed = await sync.sync_connection(box, connection_id, later + timedelta(minutes=5))
        assert changed is not None and changed.ok
        events = await _events(box)
        assert len(events) == 7  # the moved event is the same row, not a second one
        planning = events["planning@x", SINGLE_INSTANCE]
        assert planning.start_at == datetime(2026, 12, 2, 17, 0, tzinfo=timezone.utc) and not planning.cancelled
        assert events["india@x", SINGLE_INSTANCE].cancelled
        assert events["offsite@x", SINGLE_INSTANCE].cancelled  # gone from a full listing
        assert changed.upserted == 2 and changed.gone == 1

    run(settings, scenario)


def test_a_failing_feed_backs_off_sends_one_webhook_and_recovers(settings: Settings, feed: FeedServer) -> None:
    feed.publish(FEED)

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, feed.url)
        feed.fail_status = 500
        t1 = NOW + timedelta(minutes=5)
        first = await sync.sync_connection(box, connection_id, t1)
        assert first is not None and not first.ok and first.error == "the feed at 127.0.0.1 answered HTTP 500"
        assert first.next_sync_at == t1 + timedelta(seconds=60)
        async with box.db.session() as session:
            assert await sync.due_connections(session, t1 + timedelta(seconds=59)) == []
            assert await sync.due_connections(session, t1 + timedelta(seconds=60)) == [connection_id]
        t2 = t1 + timedelta(seconds=60)
        second = await sync.sync_connection(box, connection_id, t2)
        assert second is not None and second.next_sync_at == t2 + timedelta(seconds=120)  # longer each time
        stored = await _connection(box, connection_id)
        assert (stored.consecutive_failures, stored.last_error) == (2, first.error)
        assert len(await _events(box)) == 7  # what was stored is kept

        feed.fail_status = None
        t3 = t2 + timedelta(seconds=120)
        recovered = await sync.sync_connection(box, connection_id, t3)
        assert recovered is not None and recovered.ok
        stored = await _connection(box, connection_id)
        assert (stored.consecutive_failures, stored.last_error, stored.last_sync_at) == (0, None, t3)

        feed.fail_status = 503
        await sync.sync_connection(box, connection_id, t3 + timedelta(minutes=5))  # a new streak
        async with box.db.session() as session:
            failed = list(await session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == "calendar.sync_failed").order_by(OutboxEvent.id)))
        assert [e.data["error"] for e in failed] == [first.error, "the feed at 127.0.0.1 answered HTTP 503"]
        assert failed[0].user_id == 1 and failed[0].data["connection"]["id"] == connection_id

    run(settings, scenario)


def test_retry_after_is_respected(settings: Settings, feed: FeedServer) -> None:
    feed.publish(FEED)

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, feed.url)
        feed.fail_status, feed.retry_after = 429, "900"
        t1 = NOW + timedelta(minutes=5)
        outcome = await sync.sync_connection(box, connection_id, t1)
        assert outcome is not None and outcome.next_sync_at == t1 + timedelta(seconds=900)
        stored = await _connection(box, connection_id)
        assert stored.retry_after_at == t1 + timedelta(seconds=900)

    run(settings, scenario)


def test_a_feed_that_cannot_be_read_is_refused_at_creation(settings: Settings, feed: FeedServer) -> None:
    feed.fail_status = 404

    async def scenario(box: Box) -> str:
        try:
            await _connect(box, feed.url)
        except service.ConnectionRefused as exc:
            return str(exc)
        raise AssertionError("a feed answering 404 was accepted")

    assert run(settings, scenario) == "the calendar could not be read: the feed at 127.0.0.1 answered HTTP 404"


def test_the_feed_address_is_sealed_at_rest_and_in_no_log_line(settings: Settings, feed: FeedServer) -> None:
    feed.publish(FEED)
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(RedactingFormatter(FORMAT))  # the box's own log formatter
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # httpx logs each request line, address included, at INFO
    try:
        async def scenario(box: Box) -> None:
            connection_id = await _connect(box, feed.url)
            feed.fail_status = 500
            await sync.sync_connection(box, connection_id, NOW + timedelta(minutes=5))

        run(settings, scenario)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    log_text = written.getvalue()
    assert f"GET {feed.base_url}[redacted]" in log_text  # request lines are logged, masked
    assert feed.secret not in log_text

    with closing(sqlite3.connect(settings.database_path)) as conn:
        (secret, hint, settings_json), = conn.execute(
            "SELECT secret, secret_hint, settings FROM calendar_connections").fetchall()
        dump = "\n".join(conn.iterdump())
    assert feed.secret.encode() not in secret and feed.secret not in dump
    assert hint == "127.0.0.1" and feed.secret not in settings_json
    assert stat.S_IMODE(key_path(settings.data_dir).stat().st_mode) == 0o600


def test_the_scheduler_follows_the_feed(settings: Settings, feed: FeedServer) -> None:
    """reconcile runs in the sync's transaction: the planning meeting with a link gets a
    scheduled meeting; deleting the connection cancels it."""
    feed.publish(FEED)

    async def scenario(box: Box) -> tuple[list[str], list[str]]:
        connection_id = await _connect(box, feed.url)
        async with box.db.session() as session:
            before = [m.state for m in await session.scalars(
                select(ScheduledMeeting).where(ScheduledMeeting.calendar_provider == "ics"))]
            connection = await session.get(CalendarConnection, connection_id)
            assert connection is not None
            await service.remove(session, box.settings, connection, NOW)
        async with box.db.session() as session:
            after = [m.state for m in await session.scalars(
                select(ScheduledMeeting).where(ScheduledMeeting.calendar_provider == "ics"))]
            assert list(await session.scalars(select(CalendarEventRecord))) == []
        return before, after

    before, after = run(settings, scenario)
    assert before and "scheduled" in before
    assert after and "scheduled" not in after


def test_two_syncs_of_one_connection_at_once_store_each_instance_once(settings: Settings, feed: FeedServer) -> None:
    """The API's "sync now" can meet the worker's pass: the stores take turns (each begins by
    writing), so the second sees the first's rows instead of inserting them again."""
    feed.publish(FEED)

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, feed.url)
        async with box.db.session() as session:
            await session.execute(delete(CalendarEventRecord))
            await session.commit()
        later = NOW + timedelta(minutes=5)
        feed.publish(FEED + "\r\n")  # a new ETag: both read the whole feed
        outcomes = await asyncio.gather(*(sync.sync_connection(box, connection_id, later) for _ in range(2)))
        assert all(o is not None and o.ok for o in outcomes), outcomes
        assert sorted(o.upserted for o in outcomes if o is not None) == [0, 7]
        assert len(await _events(box)) == 7

    run(settings, scenario)


def test_instances_entering_the_window_are_found_though_the_feed_is_unchanged(
    settings: Settings, feed: FeedServer
) -> None:
    """A 304 cannot expand a series further; once the window has moved on, the feed is read whole."""
    daily = vevent("daily@x", ":20261202T100000Z", ":20261202T103000Z", "Daily", "RRULE:FREQ=DAILY;COUNT=30",
                   f"LOCATION:{MEET}")
    feed.publish(calendar(daily))

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, feed.url)
        assert ("daily@x", "2026-12-16T10:00:00+00:00") not in await _events(box)  # past the window's end
        next_day = NOW + timedelta(days=1)
        outcome = await sync.sync_connection(box, connection_id, next_day)
        assert outcome is not None and outcome.ok
        assert "if-none-match" not in feed.requests[-1]
        assert ("daily@x", "2026-12-16T10:00:00+00:00") in await _events(box)

    run(settings, scenario)
