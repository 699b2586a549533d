"""The durable task queue (Huey on its own SQLite file, `data/queue.db`) and its tasks.

Both processes build the same queue: `vomeet worker` consumes it, the API process enqueues.
Tasks are registered by name, so either side resolves the same task.
"""

from __future__ import annotations

import asyncio

from huey import SqliteHuey, crontab

from appliance.calendars import sync as calendar_sync
from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import utcnow
from appliance.meetings.purge import purge_expired
from appliance.task_queue import TaskQueue
from appliance.webhooks import delivery
from appliance.worker_health import touch_heartbeat


async def _purge(settings: Settings) -> None:
    db = Database(settings)
    try:
        await purge_expired(settings, db)
    finally:
        await db.dispose()


def build_queue(settings: Settings) -> TaskQueue:
    settings.ensure_dirs()
    huey = SqliteHuey("vomeet", filename=str(settings.queue_path), utc=True)

    @huey.task(name="webhooks.deliver")
    def deliver_webhook(delivery_id: int) -> None:
        outcome = delivery.deliver(settings, delivery_id)
        if outcome.retry_in_s is not None:
            deliver_webhook.schedule((delivery_id,), delay=outcome.retry_in_s)
        if outcome.next_delivery is not None:
            deliver_webhook(outcome.next_delivery)

    @huey.periodic_task(crontab(minute="*"), name="webhooks.sweep")
    def sweep_webhooks() -> None:
        for delivery_id in delivery.due_deliveries(settings):
            deliver_webhook(delivery_id)

    @huey.periodic_task(crontab(minute="17"), name="retention.purge")
    def purge_expired_content() -> None:
        asyncio.run(_purge(settings))

    @huey.periodic_task(crontab(minute="*"), name="calendars.sync")
    def sync_calendars() -> None:
        # Each connection is due by its own next_sync_at (interval, backoff, Retry-After), kept in
        # the database: the minute tick only looks, so a restart loses no schedule.
        asyncio.run(calendar_sync.run_due(settings, utcnow()))

    @huey.periodic_task(crontab(minute="*"), name="heartbeat")
    def heartbeat() -> None:
        touch_heartbeat(settings)

    @huey.on_startup()
    def first_heartbeat() -> None:
        touch_heartbeat(settings)

    return TaskQueue(huey, deliver_webhook)


def resume_deliveries(settings: Settings, queue: TaskQueue) -> int:
    """Before the consumer starts: release claims of a worker that died, queue what is owed."""
    delivery.release_claims(settings)
    owed = delivery.due_deliveries(settings)
    for delivery_id in owed:
        queue.deliver_webhook(delivery_id)
    return len(owed)
