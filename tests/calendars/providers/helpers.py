"""What the provider tests share: the moment they sync at, its window, and one sync run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from appliance.calendars.provider import CalendarEvent, CalendarProvider, ConnectionSpec, SyncResult
from appliance.config import Settings

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=1), NOW + timedelta(days=14))


def read(build: Callable[[ConnectionSpec, Settings], CalendarProvider], settings: Settings, spec: ConnectionSpec,
         cursor: str | None) -> SyncResult:
    """One sync of the connection over WINDOW, as the engine would run it."""
    return asyncio.run(build(spec, settings).sync(cursor, *WINDOW))


def by_title(result: SyncResult) -> dict[str, CalendarEvent]:
    return {e.title: e for e in result.events}
