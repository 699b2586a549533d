"""Who may read a meeting: its owner, and the readers of its scheduled meeting (every user whose
calendar holds it, issue 16). Every read check asks this one place; changes (stop, reconfigure,
annotate, delete, share) stay the owner's."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select

from appliance.db.models import Meeting, ScheduledMeetingReader


def readable_by(user_id: int) -> ColumnElement[bool]:
    """A WHERE clause on meetings: the ones `user_id` may read."""
    return or_(
        Meeting.user_id == user_id,
        Meeting.scheduled_meeting_id.in_(
            select(ScheduledMeetingReader.scheduled_meeting_id).where(ScheduledMeetingReader.user_id == user_id)
        ),
    )
