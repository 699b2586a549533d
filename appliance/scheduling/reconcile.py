"""Scheduled meetings follow the calendar: create, move, cancel from stored events.

One scheduled meeting per meeting: its dedupe key is (platform, native meeting id, instance start),
so the same meeting on several users' calendars finds one row, and each calendar instance adds
a reader (`scheduled_meeting_readers.event_key`) with that user's own decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.calendars.provider import SINGLE_INSTANCE, CalendarEvent
from appliance.config import Settings
from appliance.db.models import Meeting, ScheduledMeeting, ScheduledMeetingReader, User
from appliance.lifecycle import LIVE_STATES
from appliance.meeting_urls import BOT_PLATFORMS, MeetingRef, MeetingUrlError, join_url, parse_url
from appliance.scheduling.entries import CalendarEntry, ReconcileReport
from appliance.scheduling.rules import decide, effective_rules
from appliance.scheduling.store import (
    CANCELLED,
    LAUNCHED,
    SCHEDULED,
    SKIPPED,
    readers_of,
    record_scheduled,
    settle,
)
from appliance.scheduling.timing import Timing

NO_LINK = "no supported link"
USER_CANCELLED = "cancelled by "  # the start of a user's cancellation reason (API, console)


def _instance_start(event: CalendarEvent) -> str:
    """An instance's original start: its RECURRENCE-ID, or a single event's current start."""
    if event.instance_key != SINGLE_INSTANCE:
        try:
            parsed = datetime.fromisoformat(event.instance_key)
        except ValueError:
            return event.instance_key
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc)
        return parsed.isoformat()
    return event.start_at.astimezone(timezone.utc).isoformat()


def dedupe_key(ref: MeetingRef, event: CalendarEvent) -> str:
    return f"{ref.platform.value}|{ref.native_meeting_id}|{_instance_start(event)}"


def resolve(url: str | None, settings: Settings) -> MeetingRef | None:
    """The event's meeting, if its link is one a bot can join."""
    if not url:
        return None
    try:
        ref = parse_url(url, settings)
    except MeetingUrlError:
        return None
    return ref if ref.platform in BOT_PLATFORMS else None


async def reconcile(
    session: AsyncSession,
    now: datetime,
    entries: Sequence[CalendarEntry],
    gone: Sequence[str] = (),
    *,
    settings: Settings,
) -> ReconcileReport:
    """Make scheduled meetings match `entries` (upserted instances, cancelled ones included) and
    `gone` (event_key()s of instances removed from their calendar, incrementally or by absence
    from a full listing). `settings` resolves meeting links (the platforms' hosts).

    Idempotent: the same entries again change nothing, so a full resync after an ended sync token
    makes no duplicates. Does not commit; the caller does, so the stored events and the scheduled
    meetings change together.
    """
    report = ReconcileReport()
    for entry in entries:
        await _apply(session, settings, now, entry, report)
    for key in gone:
        reader = await _reader_for(session, key)
        if reader is not None:
            await _drop(session, now, reader, "removed from the calendar", report)
    return report


async def _reader_for(session: AsyncSession, key: str) -> ScheduledMeetingReader | None:
    return await session.scalar(select(ScheduledMeetingReader).where(ScheduledMeetingReader.event_key == key))


async def _apply(
    session: AsyncSession, settings: Settings, now: datetime, entry: CalendarEntry, report: ReconcileReport
) -> None:
    event = entry.event
    reader = await _reader_for(session, entry.key)
    ref = resolve(event.meeting_url, settings)
    if event.cancelled or ref is None or event.all_day:
        if reader is not None:
            reason = "cancelled on the calendar" if event.cancelled else (
                "all-day event" if event.all_day else NO_LINK
            )
            await _drop(session, now, reader, reason, report)
        return  # nothing a bot could join: no scheduled meeting
    scheduled = await session.get(ScheduledMeeting, reader.scheduled_meeting_id) if reader else None
    if scheduled is not None and reader is not None and (
        scheduled.platform, scheduled.native_meeting_id) != (ref.platform.value, ref.native_meeting_id):
        await _drop(session, now, reader, "the meeting link changed", report)  # a different meeting now
        await session.flush()
        scheduled = reader = None
    if scheduled is None:
        if event.end_at <= now:
            return  # over before the box saw it
        scheduled = await _find_or_create(session, settings, now, entry, ref, report)
    elif scheduled.start_at != event.start_at:
        await _move(session, scheduled, event, ref, report)
    new_reader = False
    if reader is None:
        # A second calendar copy of the same user (two connections) adds a row, not an event.
        new_reader = entry.user_id not in {r.user_id for r in await readers_of(session, scheduled.id)}
        reader = ScheduledMeetingReader(
            scheduled_meeting_id=scheduled.id, user_id=entry.user_id, event_key=entry.key, created_at=now
        )
        session.add(reader)
    user = await session.get(User, entry.user_id)
    rules = effective_rules(entry.rules, user.data if user else {})
    decision = decide(event, rules, None)  # the rules' own; settle() weighs the override
    reader.auto_join, reader.reason = decision.join, decision.reason
    scheduled.title, scheduled.end_at = event.title, event.end_at
    if (scheduled.state == SKIPPED and decision.join and reader.override != "skip"
            and now - scheduled.start_at <= Timing.from_settings(settings).skip_after):
        scheduled.state = SCHEDULED  # accepted at the last minute: the sweep decides again
    await session.flush()
    await settle(session, scheduled)
    if new_reader:
        record_scheduled(session, scheduled, entry.user_id, now)  # with its decision
    if scheduled.id not in report.created:
        report.updated.append(scheduled.id)


async def _find_or_create(
    session: AsyncSession, settings: Settings, now: datetime, entry: CalendarEntry, ref: MeetingRef,
    report: ReconcileReport,
) -> ScheduledMeeting:
    key = dedupe_key(ref, entry.event)
    scheduled = await session.scalar(select(ScheduledMeeting).where(ScheduledMeeting.dedupe_key == key))
    if scheduled is not None:
        if scheduled.state == CANCELLED and not (scheduled.decision_reason or "").startswith(USER_CANCELLED):
            scheduled.state = SCHEDULED  # back on a calendar after every copy had gone
        return scheduled
    event = entry.event
    scheduled = ScheduledMeeting(
        user_id=entry.user_id, platform=ref.platform.value, native_meeting_id=ref.native_meeting_id,
        passcode=ref.passcode, meeting_url=join_url(ref, settings), calendar_provider=entry.kind,
        start_at=event.start_at, end_at=event.end_at, title=event.title, options={},
        state=SCHEDULED, dedupe_key=key, created_at=now,
    )
    session.add(scheduled)
    await session.flush()
    report.created.append(scheduled.id)
    return scheduled


async def _move(
    session: AsyncSession, scheduled: ScheduledMeeting, event: CalendarEvent, ref: MeetingRef,
    report: ReconcileReport,
) -> None:
    """The event moved: its scheduled meeting follows, unless its bot is already in the meeting."""
    if scheduled.state == LAUNCHED:
        newest = await session.scalar(
            select(Meeting.status).where(Meeting.scheduled_meeting_id == scheduled.id).order_by(Meeting.id.desc())
        )
        if newest in {s.value for s in LIVE_STATES}:
            return  # a live bot is left alone
    if scheduled.state in (LAUNCHED, SKIPPED):
        scheduled.state, scheduled.launched_at, scheduled.error = SCHEDULED, None, None
    if scheduled.state != SCHEDULED:
        return
    scheduled.start_at, scheduled.join_at = event.start_at, None  # the calendar's time wins
    if event.instance_key == SINGLE_INSTANCE:
        # The key follows a single event's start, so a copy synced after the move finds it.
        key = dedupe_key(ref, event)
        taken = await session.scalar(select(ScheduledMeeting.id).where(ScheduledMeeting.dedupe_key == key))
        if taken is None:
            scheduled.dedupe_key = key
    report.moved.append(scheduled.id)


async def _drop(
    session: AsyncSession, now: datetime, reader: ScheduledMeetingReader, reason: str, report: ReconcileReport
) -> None:
    """One calendar copy is gone. Before the bot starts the reader goes, and with the last one the
    scheduled meeting is cancelled; after, readers keep what the bot made."""
    scheduled = await session.get(ScheduledMeeting, reader.scheduled_meeting_id)
    if scheduled is None:
        return
    if scheduled.state not in (SCHEDULED, SKIPPED):
        reader.auto_join, reader.reason = False, reason
        return
    await session.delete(reader)
    await session.flush()
    if await readers_of(session, scheduled.id):
        await settle(session, scheduled)
        report.updated.append(scheduled.id)
        return
    scheduled.state, scheduled.auto_join, scheduled.decision_reason = CANCELLED, False, reason
    report.cancelled.append(scheduled.id)
