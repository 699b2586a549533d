"""Applies lifecycle moves to stored meetings: one writer per meeting, history kept, events sent.

Every path that changes a meeting's status (user stop, bot report, bot exit, reconciliation)
goes through `LifecycleStore.move`, so every accepted move is recorded and published the same
way, and every refused move is logged and reported. A move commits the meeting, its events (the
outbox) and, when it ends the meeting, the transcript facts, in one transaction; the relay then
hands the events on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from appliance import outbox
from appliance.db.engine import Database
from appliance.db.models import Meeting, utcnow
from appliance.faults import fault_point
from appliance.lifecycle import (
    TERMINAL_STATES,
    IllegalTransition,
    MeetingStatus,
    TransitionSource,
    check_move,
    failure_stage_for,
)
from appliance.meetings.aftermath import gather_transcript_facts
from appliance.relay import OutboxRelay

log = logging.getLogger(__name__)


class LifecycleStore:
    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self._db = db
        self._relay = relay
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def lock(self, meeting_id: int) -> asyncio.Lock:
        """Serialises every read-modify-write of one meeting within this process."""
        return self._locks[meeting_id]

    async def move(
        self,
        meeting_id: int,
        target: MeetingStatus,
        source: TransitionSource,
        reason: str | None = None,
        error_details: str | None = None,
    ) -> tuple[Meeting, bool]:
        """Apply a move; returns the meeting and whether it changed.

        Repeating the current status is accepted as a no-op (a bot retrying a report whose
        answer it lost). Anything the lifecycle table refuses raises IllegalTransition.
        """
        async with self.lock(meeting_id), self._db.session() as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None:
                raise LookupError(f"meeting {meeting_id} does not exist")
            current = MeetingStatus(meeting.status)
            if current == target and target not in TERMINAL_STATES:
                return meeting, False
            try:
                completion = check_move(current, target, reason)
            except IllegalTransition as exc:
                log.warning(
                    "refused move of meeting %s by %s: %s (reason %r)", meeting_id, source, exc, reason
                )
                raise
            now = utcnow()
            meeting.status = target.value
            if target == MeetingStatus.ACTIVE and meeting.start_time is None:
                meeting.start_time = now
            if target in TERMINAL_STATES:
                meeting.end_time = now
            if completion is not None:
                meeting.completion_reason = completion.value
            if target == MeetingStatus.FAILED:
                meeting.failure_stage = failure_stage_for(current).value
                meeting.error_details = error_details
            entry: dict[str, Any] = {
                "from": current.value,
                "to": target.value,
                "at": now.isoformat(),
                "source": source.value,
                "reason": completion.value if completion else reason,
            }
            if error_details:
                entry["error_details"] = error_details[:2000]
            meeting.transitions.append(entry)
            outbox.record_move(session, meeting, entry, now)
            if target in TERMINAL_STATES:
                await gather_transcript_facts(session, meeting)
                outbox.record_end(session, meeting, now)
            fault_point("lifecycle.before_commit")
            await session.commit()
        fault_point("lifecycle.after_commit")
        log.info(
            "meeting %s: %s -> %s (%s%s)",
            meeting_id, current, target, source, f", {entry['reason']}" if entry["reason"] else "",
        )
        await self._relay.flush()
        return meeting, True
