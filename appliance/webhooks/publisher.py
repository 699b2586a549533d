"""API side: turns committed lifecycle moves into webhook deliveries and queues them.

A delivery row is written before the task is queued, so the database always knows what is
owed; the worker's sweep re-queues anything a crash separated from its task.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from appliance.db.engine import Database
from appliance.db.models import Meeting, Recording, User, WebhookDelivery, utcnow
from appliance.events import Event, StatusChanged
from appliance.meetings.aftermath import gather_transcript_facts
from appliance.meetings.lifecycle_store import LifecycleStore
from appliance.webhooks.envelope import envelope
from appliance.tasks import TaskQueue

log = logging.getLogger(__name__)


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


def events_for(change: StatusChanged, meeting: Meeting) -> list[tuple[str, str, dict[str, Any]]]:
    """(event type, deterministic key, data) for the events a move produces at once."""
    summary = meeting_summary(meeting)
    events = [
        (
            "meeting.status_change",
            # Moves only go forward, so (meeting, from, to) names one move for good.
            f"{change.meeting_id}:{change.previous}->{change.status}",
            {
                "meeting": summary,
                "previous_status": change.previous,
                "status": change.status,
                "reason": change.reason,
                "source": change.source,
                "error_details": change.error_details,
                "changed_at": change.at.isoformat(),
            },
        )
    ]
    if change.status == "failed":
        events.append(("bot.failed", str(change.meeting_id), {"meeting": summary}))
    return events


def events_after_end(meeting: Meeting) -> list[tuple[str, str, dict[str, Any]]]:
    """The events of an ended meeting, once its transcript facts are gathered."""
    summary = meeting_summary(meeting)
    facts = {
        "participants": meeting.data.get("participants", []),
        "languages": meeting.data.get("languages", []),
        "segment_count": meeting.data.get("segment_count", 0),
    }
    return [
        ("meeting.completed", str(meeting.id), {"meeting": summary, **facts}),
        ("transcript.ready", str(meeting.id), {"meeting": summary, **facts}),
    ]


class WebhookPublisher:
    def __init__(self, db: Database, lifecycle: LifecycleStore, queue: TaskQueue) -> None:
        self._db = db
        self._lifecycle = lifecycle
        self._queue = queue

    async def on_event(self, change: Event) -> None:
        if not isinstance(change, StatusChanged):
            return
        async with self._db.session() as session:
            meeting = await session.get(Meeting, change.meeting_id)
        if meeting is None:
            return
        await self.emit(meeting, events_for(change, meeting), change.at)
        if change.status in ("completed", "failed"):
            meeting = await gather_transcript_facts(self._db, self._lifecycle, meeting.id)
            await self.emit(meeting, events_after_end(meeting), change.at)

    async def recording_ready(self, meeting: Meeting, recording: Recording) -> None:
        data = {
            "meeting": meeting_summary(meeting),
            "recording": {"id": recording.id, "status": recording.status,
                          "completed_at": recording.completed_at.isoformat() if recording.completed_at else None},
        }
        await self.emit(meeting, [("recording.ready", str(recording.id), data)], utcnow())

    async def emit(
        self, meeting: Meeting, events: list[tuple[str, str, dict[str, Any]]], at: datetime
    ) -> None:
        """Store one delivery per wanted event (once per event id), then queue them."""
        async with self._db.session() as session:
            user = await session.get(User, meeting.user_id)
            if user is None or not user.webhook_url:
                return
            wanted = set(user.webhook_events or ())
            created = []
            for event_type, key, data in events:
                if wanted and event_type not in wanted:
                    continue
                body = envelope(event_type, key, at, data)
                exists = await session.scalar(
                    select(WebhookDelivery.id).where(
                        WebhookDelivery.user_id == user.id,
                        WebhookDelivery.event_id == body["event_id"],
                    )
                )
                if exists is not None:
                    continue
                delivery = WebhookDelivery(
                    user_id=user.id, meeting_id=meeting.id, event_id=body["event_id"],
                    event_type=event_type, url=user.webhook_url, payload=body, status="pending",
                    attempts=[],
                )
                session.add(delivery)
                created.append(delivery)
            await session.commit()
        for delivery in created:
            await asyncio.to_thread(self._queue.deliver_webhook, delivery.id)
        if created:
            log.info("queued %d webhook(s) for meeting %s", len(created), meeting.id)
