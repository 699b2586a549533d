"""Which webhook deliveries an outbox event owes: one to its user, if they want that event.

Called by the relay inside the transaction that marks the event relayed, so a delivery row
exists exactly when its event counts as relayed; the worker sends it (`delivery.py`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import OutboxEvent, User, WebhookDelivery
from appliance.webhooks.envelope import envelope


async def plan_deliveries(session: AsyncSession, event: OutboxEvent) -> list[WebhookDelivery]:
    user = await session.get(User, event.user_id)
    if user is None or not user.webhook_url:
        return []
    wanted = set(user.webhook_events or ())
    if wanted and event.event_type not in wanted:
        return []
    exists = await session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.user_id == user.id, WebhookDelivery.event_id == event.event_id)
    )
    if exists is not None:
        return []  # written by an earlier relay pass of the same event
    delivery = WebhookDelivery(
        user_id=user.id, meeting_id=event.meeting_id, event_id=event.event_id, event_type=event.event_type,
        url=user.webhook_url, payload=envelope(event), status="pending", attempts=[],
    )
    session.add(delivery)
    await session.flush()  # its id, for the task
    return [delivery]
