"""Writes transcript segments of a meeting to SQLite, then publishes what changed.

A segment is identified by a `segment_id` stable for its whole life (the ASR stream assigns it).
It is updated in place while it is partial and frozen once `completed`: a later write for a
completed segment is ignored, so a replay after a reconnect produces neither duplicates nor edits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from appliance.db.engine import Database
from appliance.db.models import Meeting, SpeakerActivity, TranscriptSegment, utcnow
from appliance.events import EventHub, SegmentsChanged
from appliance.faults import fault_point
from appliance.meetings.lifecycle_store import LifecycleStore

log = logging.getLogger(__name__)
# Bounds that keep the date arithmetic below in range: a year into a stream is beyond any meeting,
# and no stream starts after 2100.
MAX_STREAM_OFFSET_S = 366 * 24 * 3600.0
MAX_UNIX_TIME = 4_102_444_800.0  # 2100-01-01
# How a stored segment is told to live subscribers: the wire form, chosen by the API (api/schemas
# segment_json) and handed in when the services are built, so the collector knows no wire schema.
SegmentView = Callable[[TranscriptSegment], dict[str, Any]]


class IncomingSegment(BaseModel):
    segment_id: str = Field(min_length=1, max_length=64)
    start: float = Field(ge=0, le=MAX_STREAM_OFFSET_S)
    end: float = Field(ge=0, le=MAX_STREAM_OFFSET_S)
    text: str = Field(max_length=10_000)
    completed: bool
    language: str | None = Field(None, max_length=16)


class StreamInfo(BaseModel):
    """One audio stream of the bot: a channel, usually one participant."""

    uid: str = Field(min_length=1, max_length=100)
    speaker: str | None = Field(None, max_length=200)
    started_at: float = Field(gt=0, le=MAX_UNIX_TIME, description="Unix time of the stream's first audio sample")


class SegmentBatch(BaseModel):
    stream: StreamInfo
    segments: list[IncomingSegment] = Field(max_length=500)


class SpeakerTurn(BaseModel):
    speaker: str = Field(min_length=1, max_length=200)
    start: float = Field(gt=0, le=MAX_UNIX_TIME, description="Unix time the participant started speaking")
    end: float = Field(gt=0, le=MAX_UNIX_TIME, description="Unix time they stopped")


class SpeakerActivityBatch(BaseModel):
    turns: list[SpeakerTurn] = Field(max_length=1000)


def speaker_by_overlap(
    start: datetime, end: datetime, turns: list[SpeakerActivity]
) -> str | None:
    """The participant whose speaking turns overlap [start, end] the most."""
    overlap: dict[str, float] = {}
    for turn in turns:
        shared = (min(end, turn.end_time) - max(start, turn.start_time)).total_seconds()
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    return max(overlap, key=overlap.__getitem__) if overlap else None


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


class SegmentCollector:
    def __init__(self, db: Database, hub: EventHub, lifecycle: LifecycleStore, view: SegmentView) -> None:
        self._db = db
        self._hub = hub
        self._lifecycle = lifecycle
        self._view = view

    async def ingest(self, meeting_id: int, batch: SegmentBatch) -> int:
        """Store a batch; returns how many segments changed."""
        wanted = [s for s in batch.segments if s.text.strip()]
        if not wanted:
            return 0
        stream_start = _utc(batch.stream.started_at)
        async with self._lifecycle.lock(meeting_id), self._db.session() as session:
            meeting = await session.get(Meeting, meeting_id)
            assert meeting is not None
            audio_start = meeting.data.get("audio_started_at")
            if audio_start is None:
                audio_start = stream_start.isoformat()
                meeting.data["audio_started_at"] = audio_start
            offset = (stream_start - datetime.fromisoformat(audio_start)).total_seconds()
            existing = {
                row.segment_id: row
                for row in await session.scalars(
                    select(TranscriptSegment).where(
                        TranscriptSegment.meeting_id == meeting_id,
                        TranscriptSegment.segment_id.in_([s.segment_id for s in wanted]),
                    )
                )
            }
            turns = []
            if batch.stream.speaker is None:  # a mixed channel: label from who was speaking
                first = stream_start + timedelta(seconds=min(s.start for s in wanted))
                last = stream_start + timedelta(seconds=max(s.end for s in wanted))
                turns = list(
                    await session.scalars(
                        select(SpeakerActivity).where(
                            SpeakerActivity.meeting_id == meeting_id,
                            SpeakerActivity.start_time < last,
                            SpeakerActivity.end_time > first,
                        )
                    )
                )
            now = utcnow()
            changed: list[TranscriptSegment] = []
            for incoming in wanted:
                row = existing.get(incoming.segment_id)
                if row is not None and row.completed:
                    continue  # frozen for good
                start = max(0.0, offset + incoming.start)
                end = max(start, offset + incoming.end)
                text = incoming.text.strip()
                if row is None:
                    row = TranscriptSegment(meeting_id=meeting_id, segment_id=incoming.segment_id, created_at=now)
                    session.add(row)
                elif (row.text, row.start, row.end, row.completed) == (text, start, end, incoming.completed):
                    continue  # nothing new: do not wake subscribers
                row.start, row.end, row.text = start, end, text
                row.completed = incoming.completed
                row.language = incoming.language
                row.absolute_start_time = stream_start + timedelta(seconds=incoming.start)
                row.absolute_end_time = stream_start + timedelta(seconds=incoming.end)
                row.speaker = batch.stream.speaker or speaker_by_overlap(
                    row.absolute_start_time, row.absolute_end_time, turns
                )
                row.updated_at = now
                changed.append(row)
            await session.commit()
        fault_point("collector.after_commit")
        if changed:
            await self._hub.publish(
                SegmentsChanged(
                    meeting_id=meeting_id,
                    user_id=meeting.user_id,
                    segments=[self._view(r) for r in changed],
                    at=now,
                )
            )
        return len(changed)

    async def record_activity(self, meeting_id: int, batch: SpeakerActivityBatch) -> int:
        async with self._db.session() as session:
            for turn in batch.turns:
                if turn.end >= turn.start:
                    session.add(
                        SpeakerActivity(
                            meeting_id=meeting_id, speaker=turn.speaker,
                            start_time=_utc(turn.start), end_time=_utc(turn.end),
                        )
                    )
            await session.commit()
        return len(batch.turns)
