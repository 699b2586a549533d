"""What the provider tests share: the moment they sync at, its window, one sync run, and a user's
connection holding a refresh token a double issued."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from appliance.calendars.provider import CalendarEvent, CalendarProvider, ConnectionSpec, SyncResult
from appliance.config import Settings

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=1), NOW + timedelta(days=14))


def read(build: Callable[[ConnectionSpec, Settings], CalendarProvider], settings: Settings, spec: ConnectionSpec,
         cursor: str | None) -> SyncResult:
    """One sync of the connection over WINDOW, as the engine would run it."""
    return asyncio.run(build(spec, settings).sync(cursor, *WINDOW))


class IssuesRefreshTokens(Protocol):
    def issue_refresh_token(self, user: str) -> str: ...


def user_spec(kind: str, double: IssuesRefreshTokens, user: str) -> ConnectionSpec:
    """`user`'s own connection of `kind`, signed in: a refresh token the double issued."""
    return ConnectionSpec(connection_id=1, kind=kind, owner_email=user,
                          secret={"refresh_token": double.issue_refresh_token(user)})


def by_title(result: SyncResult) -> dict[str, CalendarEvent]:
    return {e.title: e for e in result.events}
