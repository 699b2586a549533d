"""What the scheduling loop costs when nothing is due: it sweeps at most every 15 s
(appliance/scheduling/scheduler.py), so its idle query must stay small as rows pile up.

Builds a real data directory in a temporary folder: one user, SCHEDULED future calendar meetings
and AD_HOC past ad-hoc requests (state `launched`, as every POST /bots leaves one), then times the
sweep with nothing due and the search for the next launch time, and one sweep that skips 100.
Run: .venv/bin/python benchmarks/scheduling_sweep.py [--scheduled 2000] [--ad-hoc 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.api.schemas import segment_json
from appliance.config import load_settings
from appliance.db import migrate
from appliance.scheduling.sweep import next_launch, sweep
from appliance.scheduling.timing import Timing
from appliance.services import Services

NOW = datetime(2031, 3, 3, 9, 0, tzinfo=timezone.utc)


def seed(path: Path, scheduled: int, ad_hoc: int) -> None:
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO users (id, email, max_concurrent_bots, data, created_at) "
                     "VALUES (1, 'bench@example.com', 0, '{}', '2026-01-01')")
        rows = [(f"abc-defg-{n:03d}"[:12], "launched", None, (NOW - timedelta(hours=n)).strftime(stamp))
                for n in range(ad_hoc)]
        rows += [(f"xyz-wxyz-{n:03d}"[:12], "scheduled", f"k{n}", (NOW + timedelta(hours=1 + n)).strftime(stamp))
                 for n in range(scheduled)]
        rows += [(f"old-late-{n:03d}"[:12], "scheduled", f"late{n}", (NOW - timedelta(hours=2)).strftime(stamp))
                 for n in range(100)]
        conn.executemany(
            "INSERT INTO scheduled_meetings (user_id, platform, native_meeting_id, meeting_url, calendar_provider, "
            "start_at, options, state, auto_join, dedupe_key, created_at) "
            "VALUES (1, 'google_meet', ?, 'https://meet.google.com/x', 'caldav', ?, '{}', ?, 1, ?, '2026-01-01')",
            [(native, start, state, key) for native, state, key, start in rows],
        )


async def measure(settings_dir: Path, repeats: int) -> dict[str, float]:
    settings = load_settings(data_dir=settings_dir)
    services = Services.build(settings, segment_json)
    timing = Timing.from_settings(settings)
    try:
        started = time.perf_counter()
        skipped = await sweep(services.meetings, NOW, timing)  # the 100 late ones go to skipped
        first = time.perf_counter() - started
        assert len(skipped.skipped) == 100, skipped
        idle, upcoming = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            report = await sweep(services.meetings, NOW, timing)
            idle.append(time.perf_counter() - started)
            assert not (report.launched or report.skipped)
            started = time.perf_counter()
            await next_launch(services.meetings, timing, NOW)
            upcoming.append(time.perf_counter() - started)
        return {"skip 100": first, "idle sweep": sorted(idle)[len(idle) // 2],
                "next launch": sorted(upcoming)[len(upcoming) // 2]}
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduled", type=int, default=2000)
    parser.add_argument("--ad-hoc", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        settings = load_settings(data_dir=data)
        migrate.upgrade(settings)
        seed(settings.database_path, args.scheduled, args.ad_hoc)
        figures = asyncio.run(measure(data, args.repeats))
    print(f"{args.scheduled} scheduled ahead, {args.ad_hoc} ad-hoc rows, 100 late (median of {args.repeats}):")
    for name, seconds in figures.items():
        print(f"  {name}: {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
