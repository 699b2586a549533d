"""Calendar connections as a user manages them: create (after a test read), test, sync now,
change the rules, delete. The API routes and the console call these; none returns a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.calendars import caldav_source, ics
from appliance.calendars.provider import ConnectionSpec, SyncError, SyncResult
from appliance.calendars.secrets import SecretBox
from appliance.calendars.sync import (
    SyncContext,
    SyncOutcome,
    calendar_entries,
    connection_spec,
    event_of,
    fetch,
    store,
    sync_connection,
)
from appliance.config import Settings
from appliance.db.models import CalendarConnection, CalendarEventRecord, User
from appliance.scheduling import event_key, reconcile


class ConnectionRefused(Exception):
    """The connection cannot be made as given; the message says why (a 422 to the user)."""


@dataclass(frozen=True)
class ConnectionDraft:
    """A connection before it is stored: what the provider needs, split into secret and not."""

    kind: str
    name: str
    secret: Mapping[str, str]
    hint: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    rules: Mapping[str, Any] = field(default_factory=dict)


def ics_draft(url: str, name: str | None, rules: Mapping[str, Any]) -> ConnectionDraft:
    try:
        address = ics.normalise_url(url)
    except ics.FeedAddressError as exc:
        raise ConnectionRefused(str(exc)) from None
    host = ics.host_hint(address)
    return ConnectionDraft("ics", name or f"ICS feed ({host})", {"url": address}, host, {}, rules)


def caldav_draft(url: str, username: str, password: str, name: str | None,
                 rules: Mapping[str, Any]) -> ConnectionDraft:
    if not url.lower().startswith(("http://", "https://")):
        raise ConnectionRefused("the CalDAV address must be an http(s):// link to the server or a calendar")
    hint = caldav_source.host_hint(url, username)
    return ConnectionDraft("caldav", name or f"CalDAV ({hint})", {"password": password}, hint,
                           {"url": url, "username": username}, rules)


async def create(context: SyncContext, user: User, draft: ConnectionDraft, now: datetime) -> SyncOutcome:
    """Read the calendar once (an unreachable feed or a refused login is refused here), then
    store the connection with what that read found; the caller relays the events it made."""
    settings = context.settings
    spec = ConnectionSpec(0, draft.kind, user.email, dict(draft.secret), dict(draft.settings))
    result = await _test_read(settings, spec, now)
    async with context.db.session() as session:
        connection = CalendarConnection(
            user_id=user.id, kind=draft.kind, name=draft.name[:200], secret=_seal(settings, draft.secret),
            secret_hint=draft.hint[:300], settings=dict(draft.settings), rules=dict(draft.rules),
            consecutive_failures=0, created_at=now,
        )
        session.add(connection)
        await session.flush()
        return await store(session, settings, connection, result, now)


async def _test_read(settings: Settings, spec: ConnectionSpec, now: datetime) -> SyncResult:
    try:
        return await fetch(settings, spec, None, now)
    except SyncError as exc:
        raise ConnectionRefused(f"the calendar could not be read: {exc.message}") from None


def _seal(settings: Settings, secret: Mapping[str, str]) -> bytes:
    return SecretBox.for_data_dir(settings.data_dir).seal(secret)


async def test(context: SyncContext, connection_id: int, now: datetime) -> str | None:
    """Read the calendar without storing anything: None when it works, else why not."""
    async with context.db.session() as session:
        connection = await session.get(CalendarConnection, connection_id)
        if connection is None:
            return "the connection no longer exists"
        try:
            spec = await connection_spec(session, context.settings, connection)
        except SyncError as exc:
            return exc.message
    try:
        await fetch(context.settings, spec, None, now)
    except SyncError as exc:
        return exc.message
    return None


async def sync_now(context: SyncContext, connection_id: int, now: datetime) -> SyncOutcome | None:
    return await sync_connection(context, connection_id, now)


async def owned(session: AsyncSession, user: User, connection_id: int) -> CalendarConnection | None:
    """The user's own connection by id (another user's is as absent as a missing one)."""
    connection = await session.get(CalendarConnection, connection_id)
    return connection if connection is not None and connection.user_id == user.id else None


async def set_rules(session: AsyncSession, settings: Settings, connection: CalendarConnection,
                    rules: Mapping[str, Any], now: datetime) -> None:
    """New rules apply to the connection's stored events at once (reconciled again)."""
    connection.rules = dict(rules)
    rows = list(await session.scalars(
        select(CalendarEventRecord).where(CalendarEventRecord.connection_id == connection.id)))
    entries = await calendar_entries(session, connection, [event_of(r) for r in rows])
    await reconcile(session, now, entries, (), settings=settings)
    await session.commit()


async def remove(session: AsyncSession, settings: Settings, connection: CalendarConnection, now: datetime) -> None:
    """Delete the connection and its events; the scheduled meetings only it sourced are
    cancelled by the scheduler (their instances are all gone)."""
    keys = [event_key(connection.id, owner, uid, key) for owner, uid, key in (await session.execute(
        select(CalendarEventRecord.owner_email, CalendarEventRecord.uid, CalendarEventRecord.instance_key)
        .where(CalendarEventRecord.connection_id == connection.id))).all()]
    await reconcile(session, now, [], keys, settings=settings)
    await session.delete(connection)
    await session.commit()


async def event_counts(session: AsyncSession, connection_ids: list[int]) -> dict[int, int]:
    """Upcoming (not cancelled) stored instances per connection, for listings."""
    rows = await session.execute(
        select(CalendarEventRecord.connection_id, func.count())
        .where(CalendarEventRecord.connection_id.in_(connection_ids), CalendarEventRecord.cancelled.is_(False))
        .group_by(CalendarEventRecord.connection_id))
    return {connection_id: count for connection_id, count in rows.all()}
