"""The webhook envelope of an outbox event."""

from __future__ import annotations

from typing import Any

from appliance.db.models import OutboxEvent

API_VERSION = "2024-01"


def envelope(event: OutboxEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "api_version": API_VERSION,
        "created_at": event.created_at.isoformat(),
        "data": event.data,
    }
