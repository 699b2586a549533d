"""Scheduled meetings as users see and change them: POST /bots with `join_at`, the upcoming
list, an override or a move, a cancellation. Readers see a shared meeting; only they do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import Meeting, ScheduledMeeting, ScheduledMeetingReader, User
from appliance.errors import Conflict, Invalid, NotFound
from appliance.meeting_urls import BOT_PLATFORMS, NO_BOT_YET, PLATFORM_NAMES, join_url
from appliance.meetings.orders import BotOrder
from appliance.meetings.service import resolve_ref
from appliance.scheduling.reconcile import USER_CANCELLED
from appliance.scheduling.store import (
    CANCELLED,
    SCHEDULED,
    SKIPPED,
    readers_of,
    record_scheduled,
    settle,
)
from appliance.scheduling.timing import Timing

API_REASON = "requested by API"
UNSET = object()


def readable_by(user_id: int) -> ColumnElement[bool]:
    """Scheduled meetings `user_id` may see: theirs, or one a calendar of theirs holds."""
    return or_(
        ScheduledMeeting.user_id == user_id,
        ScheduledMeeting.id.in_(
            select(ScheduledMeetingReader.scheduled_meeting_id).where(ScheduledMeetingReader.user_id == user_id)
        ),
    )


def _too_late(join_at: datetime, now: datetime, timing: Timing) -> str | None:
    late = now - join_at
    if late > timing.skip_after:
        return (
            f"join_at {join_at.isoformat()} is {int(late.total_seconds() // 60)} min in the past, more "
            f"than the {int(timing.skip_after.total_seconds() // 60)} min a late bot may still join; "
            "give a time to come, or leave join_at out to send the bot now"
        )
    return None


class SchedulingService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.timing = Timing.from_settings(settings)

    async def schedule(self, user: User, order: BotOrder, join_at: datetime, now: datetime) -> ScheduledMeeting:
        """A bot for later: a scheduled meeting in state `scheduled`, no meeting row yet."""
        ref = resolve_ref(order, self.settings)
        if ref.platform not in BOT_PLATFORMS:
            raise Invalid(NO_BOT_YET.format(platform=PLATFORM_NAMES[ref.platform]))
        if problem := _too_late(join_at, now, self.timing):
            raise Invalid(problem)
        async with self.db.session() as session:
            scheduled = ScheduledMeeting(
                user_id=user.id, platform=ref.platform.value, native_meeting_id=ref.native_meeting_id,
                passcode=ref.passcode, meeting_url=join_url(ref, self.settings), calendar_provider="api",
                start_at=join_at, join_at=join_at, state=SCHEDULED, auto_join=True,
                decision_reason=API_REASON, options={"order": _order_json(order)}, created_at=now,
            )
            session.add(scheduled)
            await session.flush()
            session.add(ScheduledMeetingReader(
                scheduled_meeting_id=scheduled.id, user_id=user.id, auto_join=True, reason=API_REASON,
                created_at=now,
            ))
            record_scheduled(session, scheduled, user.id, now)
            await session.commit()
        return scheduled

    async def upcoming(
        self, user_id: int, now: datetime, state: str | None, include_past: bool, limit: int, offset: int
    ) -> Sequence[ScheduledMeeting]:
        """The user's scheduled meetings, soonest first: those still to start or still running,
        unless `include_past`. Ad-hoc bots (POST /bots without join_at) are not scheduled ones."""
        query = select(ScheduledMeeting).where(
            readable_by(user_id),
            or_(ScheduledMeeting.join_at.is_not(None), ScheduledMeeting.dedupe_key.is_not(None)),
        )
        if state is not None:
            query = query.where(ScheduledMeeting.state == state)
        if not include_past:
            horizon = now - self.timing.skip_after
            query = query.where(or_(
                ScheduledMeeting.state == SCHEDULED,
                ScheduledMeeting.end_at >= now,
                ScheduledMeeting.start_at >= horizon,
            ))
        query = query.order_by(ScheduledMeeting.start_at, ScheduledMeeting.id).limit(limit).offset(offset)
        async with self.db.session() as session:
            return (await session.scalars(query)).all()

    async def get(self, user_id: int, scheduled_id: int) -> ScheduledMeeting:
        async with self.db.session() as session:
            return await self._readable(session, user_id, scheduled_id)

    async def _readable(self, session: AsyncSession, user_id: int, scheduled_id: int) -> ScheduledMeeting:
        scheduled = await session.scalar(
            select(ScheduledMeeting).where(ScheduledMeeting.id == scheduled_id, readable_by(user_id))
        )
        if scheduled is None:
            raise NotFound(f"No scheduled meeting {scheduled_id} found for this user.")  # 404, never 403
        return scheduled

    async def change(
        self, user_id: int, scheduled_id: int, now: datetime, *, override: object = UNSET,
        join_at: datetime | None = None,
    ) -> ScheduledMeeting:
        """Set or clear this user's override (`join`, `skip`, None), and/or move the bot's start."""
        async with self.db.session() as session:
            scheduled = await self._readable(session, user_id, scheduled_id)
            if scheduled.state not in (SCHEDULED, SKIPPED) or (
                scheduled.state == SKIPPED and not (override == "join" or join_at is not None)
            ):
                raise Conflict(f"Scheduled meeting {scheduled_id} is {scheduled.state}; it can no longer change.")
            if join_at is not None:
                if problem := _too_late(join_at, now, self.timing):
                    raise Invalid(problem)
                scheduled.join_at = join_at
                if scheduled.dedupe_key is None:  # asked for by API: its start is when the bot joins
                    scheduled.start_at = join_at
            if override is not UNSET:
                for reader in await readers_of(session, scheduled.id):
                    if reader.user_id == user_id:
                        reader.override = override  # type: ignore[assignment]
            if scheduled.state == SKIPPED:
                scheduled.state = SCHEDULED  # the sweep decides again, lateness included
            await session.flush()
            await settle(session, scheduled)
            await session.commit()
            return scheduled

    async def cancel(self, user: User, scheduled_id: int) -> ScheduledMeeting:
        async with self.db.session() as session:
            scheduled = await self._readable(session, user.id, scheduled_id)
            if scheduled.state != SCHEDULED:
                raise Conflict(
                    f"Scheduled meeting {scheduled_id} is {scheduled.state}; only a waiting one can be cancelled."
                )
            others = {r.user_id for r in await readers_of(session, scheduled.id)} - {user.id}
            if others:
                raise Conflict(
                    f"Scheduled meeting {scheduled_id} is on {len(others)} other user(s)' calendars too; "
                    'set {"override": "skip"} to stop it joining for you.'
                )
            scheduled.state, scheduled.auto_join = CANCELLED, False
            scheduled.decision_reason = f"{USER_CANCELLED}{user.email}"
            await session.commit()
            return scheduled

    async def override_of(self, user_id: int, scheduled_id: int) -> str | None:
        async with self.db.session() as session:
            return await session.scalar(
                select(ScheduledMeetingReader.override).where(
                    ScheduledMeetingReader.scheduled_meeting_id == scheduled_id,
                    ScheduledMeetingReader.user_id == user_id,
                ).limit(1)
            )

    async def newest_meeting(self, scheduled_id: int) -> int | None:
        """The newest bot run of a scheduled meeting, if it was launched."""
        async with self.db.session() as session:
            return await session.scalar(
                select(Meeting.id).where(Meeting.scheduled_meeting_id == scheduled_id).order_by(Meeting.id.desc())
            )


def _order_json(order: BotOrder) -> dict[str, object]:
    fields = asdict(order)
    fields["automatic_leave"] = dict(order.automatic_leave)
    fields["platform"] = order.platform.value if order.platform else None
    return {k: v for k, v in fields.items() if v is not None and v != {}}
