"""In-process publication of what happened, after it was committed to the database.

Subscribers (the /ws live hub, recordings) must not block: each gets the event through a
callback that is expected to return quickly, and they are called one after another. Webhooks
do not subscribe: their events are outbox rows, written with the change and handed on by the
relay (appliance/outbox.py, appliance/relay.py), which also publishes status changes here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.db.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatusChanged:
    meeting_id: int
    user_id: int
    platform: str
    native_meeting_id: str
    previous: str
    status: str
    source: str
    reason: str | None
    error_details: str | None
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class SegmentsChanged:
    """Segments of a meeting written to the database (as wire dicts, ready to send)."""

    meeting_id: int
    user_id: int
    segments: list[dict[str, Any]]
    at: datetime = field(default_factory=utcnow)


Event = StatusChanged | SegmentsChanged
Subscriber = Callable[[Event], Awaitable[None]]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                await subscriber(event)
            except Exception:  # one broken subscriber must not stop the others
                log.exception("event subscriber %r failed", subscriber)
