"""The sync engine: read a connection's provider, store its event instances, let the scheduler
follow (appliance.scheduling.reconcile), in one transaction.

A connection is due at `next_sync_at`. A failure keeps what is stored, records the error, and
waits longer after each failure in a row (and at least as long as the provider's Retry-After);
the first failure of a streak sends `calendar.sync_failed`. A cursor the provider no longer
accepts is dropped and the window read in full; instances are keyed by (connection, owner, uid,
instance), so that adds no duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.calendars import sources  # noqa: F401  (imports every provider, so each is registered)
from appliance.calendars.api_client import renewed_secret
from appliance.calendars.provider import (
    ATTENDEE_STATUSES,
    CalendarEvent,
    ConnectionSpec,
    SyncError,
    SyncResult,
    provider_for,
)
from appliance.calendars.secrets import SecretBox, SecretError
from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import CalendarConnection, CalendarEventRecord, OutboxEvent, User
from appliance.outbox import EventType, event_id
from appliance.scheduling import CalendarEntry, ReconcileReport, event_key, reconcile
from asr.backoff import growing_delay_s

log = logging.getLogger(__name__)
FIRST_RETRY_S = 60.0
RETRY_FACTOR = 2.0
MAX_RETRY_S = 3600.0


class SyncContext(Protocol):
    """What the engine needs of the process: the API's Services, or the worker's own."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...


@dataclass(frozen=True)
class SyncOutcome:
    connection_id: int
    ok: bool
    error: str | None = None
    upserted: int = 0
    gone: int = 0
    next_sync_at: datetime | None = None
    report: ReconcileReport | None = None


def window(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    return (now - timedelta(days=settings.calendar_sync_window_past_days),
            now + timedelta(days=settings.calendar_sync_window_ahead_days))


async def connection_spec(session: AsyncSession, settings: Settings, connection: CalendarConnection) -> ConnectionSpec:
    """The provider's view of a connection: its secret opened, its owner's address; an
    organisation-wide one also gets every user's address (`user_emails`) to read."""
    extra: dict[str, Any] = dict(connection.settings)
    owner = ""
    if connection.user_id is not None:
        user = await session.get(User, connection.user_id)
        owner = user.email if user else ""
    else:
        extra["user_emails"] = list(await session.scalars(select(User.email).order_by(User.id)))
    try:
        secret = SecretBox.for_data_dir(settings.data_dir).open(connection.secret)
    except SecretError as exc:
        raise SyncError(str(exc)) from None
    return ConnectionSpec(connection.id, connection.kind, owner, secret, extra)


async def fetch(settings: Settings, spec: ConnectionSpec, cursor: str | None, now: datetime) -> SyncResult:
    """One read of the provider; an expired cursor is retried once from nothing."""
    provider = provider_for(spec, settings)
    start, end = window(settings, now)
    try:
        return await provider.sync(cursor, start, end)
    except SyncError as exc:
        if not (exc.cursor_expired and cursor is not None):
            raise
        log.info("calendar connection %d: %s; reading it in full", spec.connection_id, exc.message)
        return await provider.sync(None, start, end)


async def sync_connection(context: SyncContext, connection_id: int, now: datetime) -> SyncOutcome | None:
    """Sync one connection now (None if it no longer exists); the caller relays its events."""
    settings = context.settings
    async with context.db.session() as session:
        connection = await session.get(CalendarConnection, connection_id)
        if connection is None:
            return None
        cursor = connection.cursor
        try:
            spec = await connection_spec(session, settings, connection)
        except SyncError as exc:
            return await _failed(session, connection, exc, now)
    try:
        result = await fetch(settings, spec, cursor, now)  # no transaction held over the network
    except SyncError as exc:
        failure: SyncError = exc
    except Exception as exc:  # a provider's bug must not stop the other connections' syncs
        log.exception("calendar connection %d: the sync failed unexpectedly", connection_id)
        failure = SyncError(f"the sync failed unexpectedly ({type(exc).__name__})")
    else:
        async with context.db.session() as session:
            connection = await session.get(CalendarConnection, connection_id)
            if connection is None:
                return None
            renewed = renewed_secret(spec.secret)  # a refresh token the provider replaced (Microsoft)
            if renewed is not None:
                connection.secret = SecretBox.for_data_dir(settings.data_dir).seal(renewed)
            return await store(session, settings, connection, result, now)
    async with context.db.session() as session:
        connection = await session.get(CalendarConnection, connection_id)
        return None if connection is None else await _failed(session, connection, failure, now)


async def store(session: AsyncSession, settings: Settings, connection: CalendarConnection,
                result: SyncResult, now: datetime) -> SyncOutcome:
    """Apply one successful read: upsert instances, mark the gone ones cancelled, reconcile the
    scheduled meetings, keep the cursor; commits."""
    start, end = window(settings, now)
    # What has ended before the window is over: nothing is left to join. Writing first also takes
    # SQLite's write lock before the rows are read, so two syncs of one connection at once (the
    # API's "sync now" and the worker's pass) take turns instead of inserting the same rows.
    await session.execute(delete(CalendarEventRecord).where(
        CalendarEventRecord.connection_id == connection.id, CalendarEventRecord.end_at < start))
    rows = {
        (r.owner_email, r.uid, r.instance_key): r
        for r in await session.scalars(
            select(CalendarEventRecord).where(CalendarEventRecord.connection_id == connection.id))
    }
    changed: list[CalendarEvent] = []
    seen: set[tuple[str, str, str]] = set()
    for event in result.events:
        key = (event.owner_email.lower(), event.uid, event.instance_key)
        seen.add(key)
        row = rows.get(key)
        if row is None:
            row = CalendarEventRecord(connection_id=connection.id, owner_email=key[0], uid=event.uid,
                                      instance_key=event.instance_key)
            session.add(row)
            rows[key] = row
        elif _same(row, event):
            continue
        _copy(row, event, now)
        changed.append(event)
    removed = set(result.removed)
    gone = [
        row for key, row in rows.items()
        if key not in seen and not row.cancelled
        and (row.uid in removed or (result.full and row.end_at > start and row.start_at < end))
    ]
    for row in gone:
        row.cancelled = True
        row.updated_at = now
    entries = await calendar_entries(session, connection, changed)
    report = await reconcile(
        session, now, entries, [event_key(connection.id, r.owner_email, r.uid, r.instance_key) for r in gone],
        settings=settings,
    )
    connection.cursor = result.cursor
    connection.last_sync_at = now
    connection.next_sync_at = now + timedelta(seconds=settings.calendar_sync_interval_s)
    connection.last_error = None
    connection.consecutive_failures = 0
    connection.retry_after_at = None
    await session.commit()
    return SyncOutcome(connection.id, True, upserted=len(changed), gone=len(gone),
                       next_sync_at=connection.next_sync_at, report=report)


def _same(row: CalendarEventRecord, event: CalendarEvent) -> bool:
    return (row.start_at, row.end_at, row.title, row.meeting_url, row.organizer_email, row.attendee_status,
            row.is_private, row.cancelled, row.all_day) == (
        event.start_at, event.end_at, event.title, event.meeting_url, event.organizer_email,
        event.attendee_status, event.is_private, event.cancelled, event.all_day)


def _copy(row: CalendarEventRecord, event: CalendarEvent, now: datetime) -> None:
    row.start_at, row.end_at, row.title = event.start_at, event.end_at, event.title[:1000]
    row.meeting_url, row.organizer_email = event.meeting_url, event.organizer_email
    row.attendee_status, row.is_private = event.attendee_status, event.is_private
    row.cancelled, row.all_day, row.updated_at = event.cancelled, event.all_day, now


def event_of(row: CalendarEventRecord) -> CalendarEvent:
    """A stored instance as the provider gave it (for reconciling without a new read)."""
    status = row.attendee_status if row.attendee_status in ATTENDEE_STATUSES else None
    return CalendarEvent(
        uid=row.uid, instance_key=row.instance_key, start_at=row.start_at, end_at=row.end_at, title=row.title,
        meeting_url=row.meeting_url, organizer_email=row.organizer_email,
        attendee_status=status,  # type: ignore[arg-type]  # checked against the literal's values
        is_private=row.is_private, cancelled=row.cancelled, owner_email=row.owner_email, all_day=row.all_day,
    )


async def calendar_entries(session: AsyncSession, connection: CalendarConnection,
                   events: Sequence[CalendarEvent]) -> list[CalendarEntry]:
    """The scheduler's view: whose calendar each instance is on (an organisation-wide
    connection's events of addresses with no user here are not passed)."""
    if connection.user_id is not None:
        users = {e.owner_email.lower(): connection.user_id for e in events}
    else:
        addresses = {e.owner_email.lower() for e in events}
        users = {email.lower(): uid for uid, email in
                 (await session.execute(select(User.id, User.email))).all() if email.lower() in addresses}
    rules = dict(connection.rules) or None
    return [CalendarEntry(connection.id, users[e.owner_email.lower()], connection.kind, e, rules)
            for e in events if e.owner_email.lower() in users]


async def _failed(session: AsyncSession, connection: CalendarConnection, failure: SyncError,
                  now: datetime) -> SyncOutcome:
    connection.consecutive_failures += 1
    connection.last_error = failure.message
    delay = growing_delay_s(FIRST_RETRY_S, RETRY_FACTOR, connection.consecutive_failures - 1, MAX_RETRY_S)
    next_at = now + timedelta(seconds=delay)
    if failure.retry_after_s is not None:
        connection.retry_after_at = now + timedelta(seconds=failure.retry_after_s)
        next_at = max(next_at, connection.retry_after_at)
    connection.next_sync_at = next_at
    if connection.consecutive_failures == 1 and connection.user_id is not None:
        _record_sync_failed(session, connection, now)
    log.warning("calendar connection %d (%s) failed to sync: %s; next try at %s",
                connection.id, connection.kind, failure.message, next_at.isoformat())
    await session.commit()
    return SyncOutcome(connection.id, False, error=failure.message, next_sync_at=next_at)


def _record_sync_failed(session: AsyncSession, connection: CalendarConnection, now: datetime) -> None:
    """`calendar.sync_failed`, once per streak of failures (the streak is named by its start)."""
    assert connection.user_id is not None
    kind = EventType.CALENDAR_SYNC_FAILED.value
    session.add(OutboxEvent(
        event_id=event_id(kind, f"{connection.id}:{now.isoformat()}"), event_type=kind,
        user_id=connection.user_id, meeting_id=None, created_at=now,
        data={
            "connection": {"id": connection.id, "kind": connection.kind, "name": connection.name},
            "error": connection.last_error,
            "failed_at": now.isoformat(),
            "next_sync_at": connection.next_sync_at.isoformat() if connection.next_sync_at else None,
        },
    ))


async def due_connections(session: AsyncSession, now: datetime) -> list[int]:
    """Connections whose next sync is due (never synced counts as due)."""
    rows = await session.scalars(
        select(CalendarConnection.id)
        .where((CalendarConnection.next_sync_at.is_(None)) | (CalendarConnection.next_sync_at <= now))
        .order_by(CalendarConnection.next_sync_at, CalendarConnection.id)
    )
    return list(rows)


async def sync_due(context: SyncContext, now: datetime) -> list[SyncOutcome]:
    """The periodic task's pass: every due connection, one after the other."""
    async with context.db.session() as session:
        due = await due_connections(session, now)
    outcomes = []
    for connection_id in due:
        outcome = await sync_connection(context, connection_id, now)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True)
class _OwnContext:
    settings: Settings
    db: Database


async def run_due(settings: Settings, now: datetime) -> list[SyncOutcome]:
    """The worker's `calendars.sync` pass, on a database handle of its own. The events it
    writes (calendar.sync_failed, meeting.scheduled) are relayed by the API process (its
    scheduler's loop flushes the outbox at least once a minute): one relay for the box, as two
    relays in two processes could race on the same events."""
    db = Database(settings)
    try:
        return await sync_due(_OwnContext(settings, db), now)
    finally:
        await db.dispose()
