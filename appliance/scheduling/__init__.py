"""Scheduled meetings: bots asked for a later time (POST /bots with `join_at`) or found on
calendars, one per meeting however many users have it, started by the sweep a lead time before.

The calendar sync engine (appliance/calendars/sync.py) stores events, then calls `reconcile` in
the same session so scheduled meetings follow the calendar; it commits.
"""

from __future__ import annotations

from appliance.scheduling.entries import CalendarEntry, ReconcileReport, event_key
from appliance.scheduling.reconcile import reconcile

__all__ = ["CalendarEntry", "ReconcileReport", "event_key", "reconcile"]
