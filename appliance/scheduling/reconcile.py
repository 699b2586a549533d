"""Scheduled meetings follow the calendar: create, move, cancel from stored events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from appliance.scheduling.entries import CalendarEntry, ReconcileReport


async def reconcile(
    session: AsyncSession,
    now: datetime,
    entries: Sequence[CalendarEntry],
    gone: Sequence[str] = (),
) -> ReconcileReport:
    """Make scheduled meetings match `entries` (upserted instances) and `gone` (event_key()s of
    instances removed from their calendar, incrementally or by absence from a full listing).

    Idempotent: the same entries again change nothing. Does not commit; the caller does, so the
    stored events and the scheduled meetings change together.
    """
    raise NotImplementedError("being written (H6); the signature is fixed")
