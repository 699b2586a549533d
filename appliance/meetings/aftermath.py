"""What a meeting's end writes: its participants, languages and segment count, gathered from the
transcript into the meeting's data (joined with whatever the user set by hand). Runs inside the
transaction of the move that ends the meeting, so the facts and its end events commit together."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Meeting, TranscriptSegment


async def gather_transcript_facts(session: AsyncSession, meeting: Meeting) -> None:
    of_meeting = TranscriptSegment.meeting_id == meeting.id
    speakers = (await session.scalars(select(TranscriptSegment.speaker).distinct().where(of_meeting))).all()
    languages = (await session.scalars(select(TranscriptSegment.language).distinct().where(of_meeting))).all()
    count = await session.scalar(select(func.count(TranscriptSegment.id)).where(of_meeting))
    meeting.data["participants"] = sorted(set(meeting.data.get("participants") or ()) | {s for s in speakers if s})
    meeting.data["languages"] = sorted(set(meeting.data.get("languages") or ()) | {lang for lang in languages if lang})
    meeting.data["segment_count"] = count or 0
