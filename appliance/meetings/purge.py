"""Removing a finished meeting's content: on a user's request, and by the retention schedule.

What goes: transcript segments, recordings (rows, then files), share links, the meeting's
descriptive data and its passcode. What stays: the facts of the bot's execution (status,
times, transition log), so usage and failures can still be counted.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import (
    Meeting,
    Recording,
    ScheduledMeeting,
    ShareLink,
    SpeakerActivity,
    TranscriptSegment,
    utcnow,
)
from appliance.lifecycle import TERMINAL_STATES
from appliance.transcripts.search import drop_deleted_words

log = logging.getLogger(__name__)
KEPT_AFTER_DELETE = ("bot_name", "task", "recording_enabled", "transcribe_enabled")


async def scrub(session: AsyncSession, meeting: Meeting) -> list[int]:
    """Delete the meeting's content in `session` (not committed); returns its recording ids,
    whose files are to be removed once the rows are gone."""
    recording_ids = list(
        (await session.scalars(select(Recording.id).where(Recording.meeting_id == meeting.id))).all()
    )
    for table in (TranscriptSegment, SpeakerActivity, Recording, ShareLink):
        await session.execute(delete(table).where(table.meeting_id == meeting.id))
    kept = {k: meeting.data[k] for k in KEPT_AFTER_DELETE if k in meeting.data}
    meeting.data.clear()
    meeting.data.update({**kept, "redacted": True})
    # The passcode goes too: it is also in the link's query (`?p=`, `?pwd=`).
    meeting.constructed_meeting_url = meeting.constructed_meeting_url.split("?", 1)[0]
    if meeting.scheduled_meeting_id is not None:
        scheduled = await session.get(ScheduledMeeting, meeting.scheduled_meeting_id)
        if scheduled is not None:
            scheduled.passcode = None
            scheduled.meeting_url = scheduled.meeting_url.split("?", 1)[0]
            scheduled.title = None  # a calendar event's title can say what the meeting was about
    return recording_ids


async def forget(settings: Settings, db: Database, recording_ids: list[int]) -> None:
    """After the scrub's commit: the recordings' files go, and so do the old page copies in the
    write-ahead log (secure_delete, set on every connection, already zeroed the freed pages)."""
    # Files go after the rows: a crash in between leaves orphan files, never dangling rows.
    for recording_id in recording_ids:
        shutil.rmtree(settings.recordings_dir / str(recording_id), ignore_errors=True)
    async with db.session() as session:  # the search index's copies of the words
        await drop_deleted_words(session)
        await session.commit()
    if not await db.truncate_wal():
        log.warning("the write-ahead log is in use; deleted content leaves it at the next checkpoint")


async def purge_expired(settings: Settings, db: Database) -> int:
    """Scrub every meeting that ended more than `retention_days` ago; returns how many."""
    if settings.retention_days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=settings.retention_days)
    async with db.session() as session:
        expired = (
            await session.scalars(
                select(Meeting).where(
                    Meeting.status.in_([s.value for s in TERMINAL_STATES]),
                    Meeting.end_time < cutoff,
                )
            )
        ).all()
        expired = [m for m in expired if not m.data.get("redacted")]
        recording_ids: list[int] = []
        for meeting in expired:
            recording_ids += await scrub(session, meeting)
        await session.commit()
    await forget(settings, db, recording_ids)
    if expired:
        log.info("retention: removed the content of %d meeting(s) ended before %s", len(expired), cutoff)
    return len(expired)
