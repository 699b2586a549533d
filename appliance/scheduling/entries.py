"""What the calendar sync engine hands the scheduler: stored event instances and their owners."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.calendars.provider import CalendarEvent


def event_key(connection_id: int, owner_email: str, uid: str, instance_key: str) -> str:
    """The identity of one stored instance (calendar_events is unique on these four)."""
    return f"{connection_id}|{owner_email.lower()}|{uid}|{instance_key}"


@dataclass(frozen=True)
class CalendarEntry:
    """One stored `calendar_events` instance as the scheduler reads it.

    `user_id` is whose calendar holds it: the connection's user, or for organisation-wide access
    the user whose e-mail is `event.owner_email` (events of addresses with no user are not
    passed). `rules` are the connection's auto-join rules; None means the user's default.
    """

    connection_id: int
    user_id: int
    kind: str  # the connection's kind: ics, caldav, google, microsoft
    event: CalendarEvent
    rules: Mapping[str, Any] | None = None

    @property
    def key(self) -> str:
        e = self.event
        return event_key(self.connection_id, e.owner_email, e.uid, e.instance_key)


@dataclass
class ReconcileReport:
    """What one reconcile did, by scheduled meeting id."""

    created: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
