"""The outbox: events are rows written in the transaction of the change they report.

A status move, a meeting's end and a finished recording each add their events to the session
that makes the change, so the change and its events commit together or not at all. The relay
(`appliance.relay`) hands them on. Event ids are derived from the event itself, so the same
event written or delivered twice carries one id and receivers can de-duplicate on it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Meeting, OutboxEvent, Recording


class EventType(StrEnum):
    """Every event a user can receive (the order is the console's and the docs')."""

    STATUS_CHANGE = "meeting.status_change"
    MEETING_COMPLETED = "meeting.completed"
    BOT_FAILED = "bot.failed"
    TRANSCRIPT_READY = "transcript.ready"
    RECORDING_READY = "recording.ready"
    MEETING_SCHEDULED = "meeting.scheduled"  # appliance/scheduling/store.py
    CALENDAR_SYNC_FAILED = "calendar.sync_failed"  # appliance/calendars/sync.py


def event_id(event_type: str, key: str) -> str:
    """Same event, same id: a redelivery, or the same event produced twice, carries one id."""
    return "evt_" + hashlib.sha256(f"{event_type}|{key}".encode()).hexdigest()[:32]


def meeting_summary(meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "platform": meeting.platform,
        "native_meeting_id": meeting.native_meeting_id,
        "constructed_meeting_url": meeting.constructed_meeting_url,
        "status": meeting.status,
        "completion_reason": meeting.completion_reason,
        "failure_stage": meeting.failure_stage,
        "error_details": meeting.error_details,
        "start_time": meeting.start_time.isoformat() if meeting.start_time else None,
        "end_time": meeting.end_time.isoformat() if meeting.end_time else None,
    }


def _add(session: AsyncSession, meeting: Meeting, event_type: EventType, key: str, at: datetime,
         data: dict[str, Any]) -> None:
    session.add(
        OutboxEvent(
            event_id=event_id(event_type.value, key), event_type=event_type.value,
            user_id=meeting.user_id, meeting_id=meeting.id, data=data, created_at=at,
        )
    )


def record_move(session: AsyncSession, meeting: Meeting, move: dict[str, Any], at: datetime) -> None:
    """The events of one accepted move (`move`: the transition entry stored on the meeting)."""
    summary = meeting_summary(meeting)
    # Moves only go forward, so (meeting, from, to) names one move for good.
    _add(session, meeting, EventType.STATUS_CHANGE, f"{meeting.id}:{move['from']}->{move['to']}", at, {
        "meeting": summary,
        "previous_status": move["from"],
        "status": move["to"],
        "reason": move["reason"],
        "source": move["source"],
        "error_details": move.get("error_details"),
        "changed_at": move["at"],
    })
    if move["to"] == "failed":
        _add(session, meeting, EventType.BOT_FAILED, str(meeting.id), at, {"meeting": summary})


def record_end(session: AsyncSession, meeting: Meeting, at: datetime) -> None:
    """The events of an ended meeting, whose transcript facts are already in `meeting.data`."""
    data = {
        "meeting": meeting_summary(meeting),
        "participants": meeting.data.get("participants", []),
        "languages": meeting.data.get("languages", []),
        "segment_count": meeting.data.get("segment_count", 0),
    }
    _add(session, meeting, EventType.MEETING_COMPLETED, str(meeting.id), at, data)
    _add(session, meeting, EventType.TRANSCRIPT_READY, str(meeting.id), at, dict(data))


def record_recording_ready(session: AsyncSession, meeting: Meeting, recording: Recording, at: datetime) -> None:
    completed = recording.completed_at.isoformat() if recording.completed_at else None
    _add(session, meeting, EventType.RECORDING_READY, str(recording.id), at, {
        "meeting": meeting_summary(meeting),
        "recording": {"id": recording.id, "status": recording.status, "completed_at": completed},
    })
