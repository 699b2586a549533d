"""Changes to scheduled meetings shared by the API, the calendar reconcile and the sweep: who the
readers are, what the meeting decides from them, its `meeting.scheduled` event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import OutboxEvent, ScheduledMeeting, ScheduledMeetingReader
from appliance.outbox import EventType, event_id
from appliance.scheduling.rules import OVERRIDES

SCHEDULED, LAUNCHED, SKIPPED, CANCELLED, FAILED = "scheduled", "launched", "skipped", "cancelled", "failed"
STATES = (SCHEDULED, LAUNCHED, SKIPPED, CANCELLED, FAILED)


async def readers_of(session: AsyncSession, scheduled_id: int) -> Sequence[ScheduledMeetingReader]:
    """In the order they got the meeting: the first who wants a bot is the one it runs as."""
    return (
        await session.scalars(
            select(ScheduledMeetingReader)
            .where(ScheduledMeetingReader.scheduled_meeting_id == scheduled_id)
            .order_by(ScheduledMeetingReader.id)
        )
    ).all()


async def settle(session: AsyncSession, scheduled: ScheduledMeeting) -> None:
    """A scheduled meeting's decision from its readers' own: a bot if anyone wants one, run as the
    first of them (else the first reader, for the record). Launched or ended ones keep theirs."""
    if scheduled.state != SCHEDULED:
        return
    readers = await readers_of(session, scheduled.id)
    if not readers:
        return
    decisions = [(reader, effective(reader)) for reader in readers]
    joiners = [(r, d) for r, d in decisions if d[0]]
    lead, (_, reason) = (joiners or decisions)[0]
    scheduled.auto_join = bool(joiners)
    scheduled.decision_reason = reason
    scheduled.user_id = lead.user_id


def effective(reader: ScheduledMeetingReader) -> tuple[bool, str | None]:
    """A reader's decision: their override if they set one, else what their rules said."""
    if reader.override in OVERRIDES:
        return reader.override == "join", f"override: {reader.override}"
    return reader.auto_join, reader.reason


def summary(scheduled: ScheduledMeeting) -> dict[str, Any]:
    """A scheduled meeting in webhooks (and the API's view, appliance/scheduling/views.py)."""
    return {
        "id": scheduled.id,
        "platform": scheduled.platform,
        "native_meeting_id": scheduled.native_meeting_id,
        "meeting_url": scheduled.meeting_url,
        "title": scheduled.title,
        "source": scheduled.calendar_provider,
        "state": scheduled.state,
        "start_at": scheduled.start_at.isoformat(),
        "end_at": scheduled.end_at.isoformat() if scheduled.end_at else None,
        "join_at": scheduled.join_at.isoformat() if scheduled.join_at else None,
        "auto_join": scheduled.auto_join,
        "reason": scheduled.decision_reason,
        "error": scheduled.error,
    }


def record_scheduled(session: AsyncSession, scheduled: ScheduledMeeting, user_id: int, at: datetime) -> None:
    """`meeting.scheduled` for one user who now has this scheduled meeting (once per user each
    time they come to have it: a user dropped and added back, e.g. a calendar reconnected, is
    told again, under an event id of its own)."""
    session.add(
        OutboxEvent(
            event_id=event_id(EventType.MEETING_SCHEDULED.value, f"{scheduled.id}:{user_id}:{at.isoformat()}"),
            event_type=EventType.MEETING_SCHEDULED.value, user_id=user_id, meeting_id=None,
            data={"scheduled_meeting": summary(scheduled)}, created_at=at,
        )
    )
