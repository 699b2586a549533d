"""What every calendar source gives the sync engine: event instances, a cursor, typed failures.

ICS feeds, CalDAV collections, Google Calendar and Microsoft Graph all answer the same
`CalendarProvider.sync` call, so the engine (appliance/calendars/sync.py) stores and reconciles
events without knowing where they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from appliance.config import Settings

AttendeeStatus = Literal["accepted", "tentative", "declined", "needs-action"]
ATTENDEE_STATUSES: frozenset[str] = frozenset({"accepted", "tentative", "declined", "needs-action"})
# The instance key of an event that does not recur: its start may move, its key must not.
SINGLE_INSTANCE = "single"


@dataclass(frozen=True)
class CalendarEvent:
    """One instance of an event as seen on one owner's calendar.

    `instance_key` is, for an instance of a recurring event, its RECURRENCE-ID (the start the
    rule gave it) as an ISO UTC string (an ISO date for all-day series); for an event that does
    not recur, `SINGLE_INSTANCE`. Either way an instance keeps its key when it is moved, so a moved
    meeting is the same row, not a cancellation and a new one. `start_at`/`end_at` are aware UTC
    datetimes (midnight UTC of the dates for all-day events).
    """

    uid: str
    instance_key: str
    start_at: datetime
    end_at: datetime
    title: str
    meeting_url: str | None
    organizer_email: str | None
    attendee_status: AttendeeStatus | None
    is_private: bool
    cancelled: bool
    owner_email: str
    all_day: bool = False


@dataclass(frozen=True)
class SyncResult:
    """One sync's answer.

    `events` are upserted instances; `removed` holds uids whose stored instances are gone since
    `cursor` (an incremental answer), except the instances of that uid also in `events`: a changed
    series is sent as its uid in `removed` plus its current instances, so an instance the change
    dropped (a new EXDATE) goes. One instance that goes is sent as a `cancelled` event. `full`
    says the listing of the window is complete: anything stored in the window and not in it is
    gone. `cursor` is opaque to the engine: ETag/Last-Modified for ICS, a sync token for
    CalDAV and Google, a delta link for Graph; None when the source gives none.
    """

    events: tuple[CalendarEvent, ...]
    cursor: str | None
    full: bool
    removed: tuple[str, ...] = ()


class SyncError(Exception):
    """A sync that failed; the message is safe to store and show (it names no secret).

    `retry_after_s` carries a provider's rate-limit answer (429/403 with Retry-After);
    `cursor_expired` says the cursor is no longer accepted, so the engine resyncs in full.
    """

    def __init__(
        self, message: str, retry_after_s: float | None = None, cursor_expired: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s
        self.cursor_expired = cursor_expired


class CalendarProvider(Protocol):
    async def sync(
        self, cursor: str | None, window_start: datetime, window_end: datetime
    ) -> SyncResult:
        """Events overlapping [window_start, window_end) changed since `cursor` (all when None)."""
        ...


@dataclass(frozen=True)
class ConnectionSpec:
    """What a provider factory is built from: a connection's decrypted secret and its settings."""

    connection_id: int
    kind: str
    owner_email: str
    secret: Mapping[str, str]
    settings: Mapping[str, object] = field(default_factory=dict)


class ProviderFactory(Protocol):
    """Builds a provider; `settings` are the box's (meeting hosts, provider endpoints)."""

    def __call__(self, spec: ConnectionSpec, settings: Settings) -> CalendarProvider: ...


# kind -> factory; each provider module registers itself (see appliance/calendars/__init__.py), so
# Google and Microsoft plug in without the engine changing.
PROVIDERS: dict[str, ProviderFactory] = {}


def register(kind: str, factory: ProviderFactory) -> None:
    PROVIDERS[kind] = factory


def provider_for(spec: ConnectionSpec, settings: Settings) -> CalendarProvider:
    try:
        factory = PROVIDERS[spec.kind]
    except KeyError:
        raise SyncError(f"no calendar provider for kind {spec.kind!r}") from None
    return factory(spec, settings)
