"""What a calendar sync costs the box: an ICS feed of a busy calendar read, expanded and stored.

The feed (served on loopback by the tests' FeedServer) holds SINGLES one-off meetings over the
next two weeks and SERIES daily series of a year each (with an exception apiece), all with a Meet
link; the box's window (14 days ahead) expands the series. Timed: the first sync (creation: fetch,
parse, expand, store, reconcile into scheduled meetings), an unchanged feed (a 304: nothing
parsed), the same feed with a new ETag (parsed and expanded again, nothing stored), and one
event moved. Run from the repository root: .venv/bin/python -m benchmarks.calendar_sync
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.calendars import service, sync
from appliance.db import migrate
from appliance.db.models import User
from tests.calendars.conftest import Box, FeedServer, box_settings

SINGLES, SERIES = 400, 40
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
STAMP = "%Y%m%dT%H%M%SZ"


def meet_code(n: int) -> str:
    """A distinct Meet code per meeting (codes are letters only)."""
    return "abc-defg-" + "".join("abcdefghij"[int(d)] for d in f"{n % 1000:03d}")


def feed_text(moved: int | None = None) -> str:
    events = []
    for n in range(SINGLES):
        start = NOW + timedelta(hours=1 + n * 0.8) + (timedelta(minutes=30) if n == moved else timedelta())
        events.append(
            f"BEGIN:VEVENT\r\nUID:single-{n}@bench\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start:{STAMP}}\r\n"
            f"DTEND:{start + timedelta(minutes=30):{STAMP}}\r\nSUMMARY:Meeting {n}\r\n"
            f"LOCATION:https://meet.google.com/{meet_code(n)}\r\nEND:VEVENT\r\n")
    for n in range(SERIES):
        first = NOW.replace(hour=9) + timedelta(minutes=10 * n)
        moved_day = first + timedelta(days=3)
        events.append(
            f"BEGIN:VEVENT\r\nUID:series-{n}@bench\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{first:{STAMP}}\r\n"
            f"DTEND:{first + timedelta(minutes=15):{STAMP}}\r\nRRULE:FREQ=DAILY;COUNT=365\r\nSUMMARY:Standup {n}\r\n"
            "X-GOOGLE-CONFERENCE:https://meet.google.com/std-updr-oom\r\nEND:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:series-{n}@bench\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID:{moved_day:{STAMP}}\r\n"
            f"DTSTART:{moved_day + timedelta(hours=2):{STAMP}}\r\n"
            f"DTEND:{moved_day + timedelta(hours=2, minutes=15):{STAMP}}\r\n"
            f"SUMMARY:Standup {n} (moved)\r\nEND:VEVENT\r\n")
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"


async def bench(box: Box, feed: FeedServer) -> None:
    async with box.db.session() as session:
        user = await session.get(User, 1)
    assert user is not None
    began = time.perf_counter()
    created = await service.create(box, user, service.ics_draft(feed.url, None, {}), NOW)
    report(f"first sync ({len(feed.body) // 1024} KiB feed)", began, created)
    began = time.perf_counter()
    report("unchanged (304)", began, await sync.sync_connection(box, created.connection_id, NOW + timedelta(minutes=5)))
    feed.body += b"\r\n"  # a new ETag, the same calendar
    began = time.perf_counter()
    report("new ETag, same events", began,
           await sync.sync_connection(box, created.connection_id, NOW + timedelta(minutes=10)))
    feed.publish(feed_text(moved=7))
    began = time.perf_counter()
    moved = await sync.sync_connection(box, created.connection_id, NOW + timedelta(minutes=15))
    report("one event moved", began, moved)


def report(what: str, began: float, outcome: sync.SyncOutcome | None) -> None:
    assert outcome is not None and outcome.ok, outcome
    print(f"{what:32} {time.perf_counter() - began:7.3f} s  upserted {outcome.upserted}, gone {outcome.gone}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = box_settings(Path(tmp) / "data")
        migrate.upgrade(settings)
        with closing(sqlite3.connect(settings.database_path)) as conn, conn:
            conn.execute("INSERT INTO users (id, email, max_concurrent_bots, data, created_at) "
                         "VALUES (1, 'bench@example.com', 1, '{}', '2026-01-01 00:00:00')")
        feed = FeedServer().start()
        feed.publish(feed_text())
        try:
            async def run() -> None:
                from appliance.db.engine import Database

                db = Database(settings)
                try:
                    await bench(Box(settings, db), feed)
                finally:
                    await db.dispose()

            asyncio.run(run())
        finally:
            feed.stop()
        with closing(sqlite3.connect(settings.database_path)) as conn:
            rows = conn.execute("SELECT COUNT(*) FROM calendar_events").fetchone()[0]
            scheduled = conn.execute("SELECT COUNT(*) FROM scheduled_meetings").fetchone()[0]
        print(f"stored instances {rows}, scheduled meetings {scheduled}")


if __name__ == "__main__":
    main()
