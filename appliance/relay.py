"""The relay: hands committed outbox events on, in order, and resumes after a crash.

For each unrelayed event, in id order: the webhook deliveries it owes are written and the event
is marked relayed, in one transaction; the delivery tasks are queued; the in-process subscribers
(the /ws hub, recordings) are told. Whoever commits events calls `flush()` right after, so in a
process that does not crash events go out at once; `start()` relays what a crash left behind.

What this promises (docs/webhooks.md): every event is relayed at least once and in order; a
crash after the relay's commit but before the queueing is repaired by the worker's sweep (the
delivery rows are in the database); a crash before it relays the event again at the next start,
and a delivery already written for it is not written twice (one per user and event id).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import select

from appliance.db.engine import Database
from appliance.db.models import OutboxEvent, utcnow
from appliance.events import EventHub, StatusChanged
from appliance.faults import fault_point
from appliance.outbox import EventType
from appliance.task_queue import TaskQueue
from appliance.webhooks.publisher import plan_deliveries

log = logging.getLogger(__name__)
BATCH = 100


class OutboxRelay:
    def __init__(self, db: Database, hub: EventHub, queue: TaskQueue | None) -> None:
        self._db = db
        self._hub = hub
        self._queue = queue  # None: deliveries are written, and the worker's sweep queues them
        self._lock = asyncio.Lock()  # one relay pass at a time keeps the order

    async def flush(self) -> int:
        """Relay every committed, unrelayed event; returns how many were relayed."""
        relayed = 0
        async with self._lock:
            while batch := await self._relay_batch():
                relayed += batch
        return relayed

    async def start(self) -> int:
        """At start-up: relay what a previous run committed but did not relay."""
        count = await self.flush()
        if count:
            log.info("relayed %d event(s) left by the previous run", count)
        return count

    async def _relay_batch(self) -> int:
        now = utcnow()
        async with self._db.session() as session:
            events = list(
                await session.scalars(
                    select(OutboxEvent).where(OutboxEvent.relayed_at.is_(None)).order_by(OutboxEvent.id).limit(BATCH)
                )
            )
            if not events:
                return 0
            deliveries = [d for event in events for d in await plan_deliveries(session, event)]
            for event in events:
                event.relayed_at = now
            await session.commit()
        fault_point("relay.after_commit")
        if self._queue is not None:
            for delivery in deliveries:
                await asyncio.to_thread(self._queue.deliver_webhook, delivery.id)
        if deliveries:
            log.info("queued %d webhook(s)", len(deliveries))
        fault_point("relay.after_enqueue")
        for event in events:
            if event.event_type == EventType.STATUS_CHANGE:
                await self._hub.publish(status_changed(event))
        return len(events)


def status_changed(event: OutboxEvent) -> StatusChanged:
    """The in-process form of a status-change event, for the live subscribers."""
    data, meeting = event.data, event.data["meeting"]
    return StatusChanged(
        meeting_id=meeting["id"],
        user_id=event.user_id,
        platform=meeting["platform"],
        native_meeting_id=meeting["native_meeting_id"],
        previous=data["previous_status"],
        status=data["status"],
        source=data["source"],
        reason=data["reason"],
        error_details=data["error_details"],
        at=datetime.fromisoformat(data["changed_at"]),
    )
