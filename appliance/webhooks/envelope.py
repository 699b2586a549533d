"""The webhook envelope and its deterministic event id."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

API_VERSION = "2024-01"


def event_id(event_type: str, key: str) -> str:
    """Same event, same id: a redelivery, or the same event enqueued twice, carries one id."""
    return "evt_" + hashlib.sha256(f"{event_type}|{key}".encode()).hexdigest()[:32]


def envelope(event_type: str, key: str, created_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": event_id(event_type, key),
        "event_type": event_type,
        "api_version": API_VERSION,
        "created_at": created_at.isoformat(),
        "data": data,
    }
