"""When a scheduled meeting's bot starts, or why it never will (pure functions of `now`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from appliance.config import Settings


@dataclass(frozen=True)
class Timing:
    lead: timedelta  # a calendar meeting's bot starts this long before the meeting
    skip_after: timedelta  # later than this after the start, no bot

    @classmethod
    def from_settings(cls, settings: Settings) -> Timing:
        return cls(timedelta(seconds=settings.schedule_lead_s), timedelta(seconds=settings.schedule_skip_after_s))


def launch_at(start_at: datetime, join_at: datetime | None, timing: Timing) -> datetime:
    """`join_at` when one was asked for (POST /bots, a move), else the start minus the lead."""
    return join_at if join_at is not None else start_at - timing.lead


@dataclass(frozen=True)
class Step:
    action: Literal["wait", "launch", "skip"]
    reason: str | None = None


def next_step(
    *, auto_join: bool, reason: str | None, start_at: datetime, join_at: datetime | None,
    now: datetime, timing: Timing,
) -> Step:
    """What the sweep does with a `scheduled` meeting at `now`."""
    if now < launch_at(start_at, join_at, timing):
        return Step("wait")
    if not auto_join:
        return Step("skip", reason or "auto-join off")
    late = now - max(start_at, join_at or start_at)
    if late > timing.skip_after:
        return Step("skip", f"started {int(late.total_seconds() // 60)} min ago")
    return Step("launch")
