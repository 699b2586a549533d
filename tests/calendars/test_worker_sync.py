"""The worker's `calendars.sync` pass: due connections only, by the schedule kept in the
database (so a restarted worker picks up where the last one stopped), and the failure event
written once per streak, which the API process's relay turns into one webhook delivery."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone

from appliance.calendars import service, sync
from appliance.config import Settings
from appliance.db.models import User
from appliance.events import EventHub
from appliance.relay import OutboxRelay
from appliance.tasks import build_queue
from tests.calendars.conftest import Box, FeedServer, run

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
FEED = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Vomeet tests//EN\r\nBEGIN:VEVENT\r\nUID:w@x\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART:20261202T100000Z\r\nDTEND:20261202T110000Z\r\nSUMMARY:W\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_the_periodic_task_is_registered(settings: Settings) -> None:
    """Every minute: each connection's own schedule decides whether it is read."""
    huey = build_queue(settings).huey
    for minute in (datetime(2026, 12, 1, 12, 0), datetime(2026, 12, 1, 12, 7)):
        assert "calendars.sync" in {task.name for task in huey.read_periodic(minute)}


def test_each_pass_syncs_what_is_due_and_a_failure_streak_is_delivered_once(
    settings: Settings, feed: FeedServer
) -> None:
    feed.publish(FEED)
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute("UPDATE users SET webhook_url = 'http://127.0.0.1:9/hook' WHERE id = 1")

    async def connect(box: Box) -> int:
        async with box.db.session() as session:
            alice = await session.get(User, 1)
        assert alice is not None
        return (await service.create(box, alice, service.ics_draft(feed.url, None, {}), NOW)).connection_id

    connection_id = run(settings, connect)
    fetched = len(feed.requests)
    # Each pass is a new process's view: a database opened afresh, the schedule read from it.
    assert run_due(settings, NOW + timedelta(minutes=4)) == []  # not due yet (every 5 minutes)
    assert len(feed.requests) == fetched
    feed.fail_status = 500
    first = run_due(settings, NOW + timedelta(minutes=5))
    assert [(o.connection_id, o.ok) for o in first] == [(connection_id, False)]
    assert run_due(settings, NOW + timedelta(minutes=5, seconds=30)) == []  # backing off: 60 s
    second = run_due(settings, NOW + timedelta(minutes=6))
    assert [o.ok for o in second] == [False]
    feed.fail_status = None
    assert [o.ok for o in run_due(settings, NOW + timedelta(minutes=8))] == [True]

    relay_in_the_api_process(settings)
    with closing(sqlite3.connect(settings.database_path)) as conn:
        deliveries = conn.execute(
            "SELECT event_type, status FROM webhook_deliveries WHERE user_id = 1").fetchall()
        unrelayed = conn.execute("SELECT COUNT(*) FROM outbox_events WHERE relayed_at IS NULL").fetchone()
    assert deliveries.count(("calendar.sync_failed", "pending")) == 1  # two failures, one streak
    assert unrelayed == (0,)


def run_due(settings: Settings, now: datetime) -> list[sync.SyncOutcome]:
    return asyncio.run(sync.run_due(settings, now))


def relay_in_the_api_process(settings: Settings) -> None:
    """What the API process's scheduler loop does each minute with the worker's events."""

    async def flush(box: Box) -> None:
        await OutboxRelay(box.db, EventHub(), None).flush()

    run(settings, flush)
