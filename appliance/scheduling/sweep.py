"""The sweep: at a given `now`, start every scheduled meeting's bot that is due, skip the ones
that will get none, and say why. Idempotent: everything it knows is in SQLite, and a launch is
claimed by one conditional UPDATE, so running it twice, or again after a restart, starts no
second bot and loses none."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select

from appliance.db.models import ScheduledMeeting, User
from appliance.errors import Conflict, Invalid, NotFound, OverLimit, Unavailable
from appliance.meeting_urls import Platform
from appliance.meetings.orders import BotOrder
from appliance.meetings.service import MeetingService
from appliance.scheduling.store import FAILED, SCHEDULED, SKIPPED
from appliance.scheduling.timing import Timing, launch_at, next_step

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    launched: list[int] = field(default_factory=list)  # scheduled meeting ids
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)  # due, but the box or the user is full


def order_of(scheduled: ScheduledMeeting) -> BotOrder:
    """The bot asked for: POST /bots' own fields (kept in `options["order"]`), or for a calendar
    meeting its link, with the settings' defaults."""
    asked = dict(scheduled.options.get("order") or {})
    asked.setdefault("meeting_url", scheduled.meeting_url)
    asked.setdefault("passcode", scheduled.passcode)
    if asked.get("platform"):
        asked["platform"] = Platform(asked["platform"])
    return BotOrder(**asked)


async def due(meetings: MeetingService, now: datetime, timing: Timing) -> list[ScheduledMeeting]:
    """Scheduled meetings whose bot start has come, soonest first."""
    async with meetings.db.session() as session:
        rows = (
            await session.scalars(
                select(ScheduledMeeting).where(
                    ScheduledMeeting.state == SCHEDULED,
                    or_(
                        ScheduledMeeting.join_at <= now,
                        and_(ScheduledMeeting.join_at.is_(None), ScheduledMeeting.start_at <= now + timing.lead),
                    ),
                )
            )
        ).all()
    return sorted(rows, key=lambda s: launch_at(s.start_at, s.join_at, timing))


async def next_launch(meetings: MeetingService, timing: Timing, after: datetime) -> datetime | None:
    """When the next waiting bot is due after `after` (the scheduler sleeps until then; one due
    already but deferred, the box being full, is tried again at the next regular sweep)."""
    async with meetings.db.session() as session:
        rows = (
            await session.execute(
                select(ScheduledMeeting.start_at, ScheduledMeeting.join_at).where(ScheduledMeeting.state == SCHEDULED)
            )
        ).all()
    times = (launch_at(start, join, timing) for start, join in rows)
    return min((t for t in times if t > after), default=None)


async def sweep(meetings: MeetingService, now: datetime, timing: Timing | None = None) -> SweepReport:
    timing = timing or Timing.from_settings(meetings.settings)
    report = SweepReport()
    for scheduled in await due(meetings, now, timing):
        step = next_step(
            auto_join=scheduled.auto_join, reason=scheduled.decision_reason, start_at=scheduled.start_at,
            join_at=scheduled.join_at, now=now, timing=timing,
        )
        if step.action == "skip":
            await _settle_state(meetings, scheduled.id, SKIPPED, reason=step.reason)
            report.skipped.append(scheduled.id)
        elif step.action == "launch":
            await _launch(meetings, scheduled, report)
    return report


async def _launch(meetings: MeetingService, scheduled: ScheduledMeeting, report: SweepReport) -> None:
    async with meetings.db.session() as session:
        user = await session.get(User, scheduled.user_id)
    if user is None:
        return  # the user was deleted (their scheduled meetings go with them)
    try:
        meeting = await meetings.launch(user, order_of(scheduled), scheduled_id=scheduled.id)
    except (Unavailable, OverLimit) as exc:
        # Full now; the next sweep tries again until the skip window closes.
        await _settle_state(meetings, scheduled.id, SCHEDULED, error=str(exc))
        report.deferred.append(scheduled.id)
    except Conflict as exc:
        # Claimed by another sweep already, or this user has a live bot in that meeting.
        if await _settle_state(meetings, scheduled.id, SKIPPED, reason=str(exc), only_if=SCHEDULED):
            report.skipped.append(scheduled.id)
    except (Invalid, NotFound) as exc:
        await _settle_state(meetings, scheduled.id, FAILED, error=str(exc), only_if=SCHEDULED)
        report.failed.append(scheduled.id)
    else:
        log.info("scheduled meeting %s: bot started (meeting %s)", scheduled.id, meeting.id)
        report.launched.append(scheduled.id)


async def _settle_state(
    meetings: MeetingService, scheduled_id: int, state: str, *, reason: str | None = None,
    error: str | None = None, only_if: str | None = None,
) -> bool:
    async with meetings.db.session() as session:
        scheduled = await session.get(ScheduledMeeting, scheduled_id)
        if scheduled is None or (only_if is not None and scheduled.state != only_if):
            return False
        scheduled.state = state
        if reason is not None:
            scheduled.decision_reason = reason
            scheduled.auto_join = False
        scheduled.error = error
        await session.commit()
    return True
