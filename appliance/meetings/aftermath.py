"""What happens once a meeting has ended: its participants and languages are gathered from the
transcript into the meeting's data (joined with whatever the user set by hand)."""

from __future__ import annotations

from sqlalchemy import distinct, func, select

from appliance.db.engine import Database
from appliance.db.models import Meeting, TranscriptSegment
from appliance.meetings.lifecycle_store import LifecycleStore


async def gather_transcript_facts(db: Database, lifecycle: LifecycleStore, meeting_id: int) -> Meeting:
    async with lifecycle.lock(meeting_id), db.session() as session:
        of_meeting = TranscriptSegment.meeting_id == meeting_id
        speakers = (
            await session.scalars(select(distinct(TranscriptSegment.speaker)).where(of_meeting))
        ).all()
        languages = (
            await session.scalars(select(distinct(TranscriptSegment.language)).where(of_meeting))
        ).all()
        count = await session.scalar(select(func.count(TranscriptSegment.id)).where(of_meeting))
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
        meeting.data["participants"] = sorted(
            set(meeting.data.get("participants") or ()) | {s for s in speakers if s}
        )
        meeting.data["languages"] = sorted(
            set(meeting.data.get("languages") or ()) | {lang for lang in languages if lang}
        )
        meeting.data["segment_count"] = count or 0
        await session.commit()
    return meeting
