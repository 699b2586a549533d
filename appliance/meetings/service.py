"""Meeting requests and bot executions: launch, stop, reconfigure, bot exits, reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.bot_config import DEFAULT_BOT_NAME, AutomaticLeave, BotConfig
from appliance.capacity import BotMeter, BoxMeter, Limits, box_load, decide
from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import Meeting, ScheduledMeeting, User, utcnow
from appliance.errors import Conflict, Invalid, NotFound, OverLimit, Unavailable
from appliance.lifecycle import (
    LIVE_STATES,
    TERMINAL_STATES,
    CompletionReason,
    IllegalTransition,
    MeetingStatus,
    TransitionSource,
)
from appliance.meeting_urls import (
    BOT_PLATFORMS,
    NO_BOT_YET,
    PLATFORM_NAMES,
    MeetingRef,
    MeetingUrlError,
    Platform,
    join_url,
    parse_url,
    validate,
)
from appliance.meetings.access import readable_by
from appliance.meetings.lifecycle_store import LifecycleStore
from appliance.meetings.orders import BotOrder
from appliance.runtime.base import BotExit, BotLaunch, BotRuntime
from appliance.security import BOT_TOKEN_PREFIX, new_secret

log = logging.getLogger(__name__)
LIVE = [s.value for s in LIVE_STATES]


def resolve_ref(request: BotOrder, settings: Settings) -> MeetingRef:
    try:
        if request.meeting_url:
            ref = parse_url(request.meeting_url, settings, request.passcode)
            if request.platform and request.platform != ref.platform:
                raise MeetingUrlError(
                    f"`platform` says {request.platform} but the link is a {ref.platform} meeting."
                )
        else:
            assert request.platform is not None and request.native_meeting_id is not None
            ref = validate(request.platform, request.native_meeting_id, request.passcode)
    except MeetingUrlError as exc:
        raise Invalid(str(exc)) from exc
    return ref


def bot_config(
    settings: Settings, request: BotOrder, meeting_id: int, platform: str, meeting_url: str
) -> BotConfig:
    """Everything the bot of this meeting is told: the request, its gaps filled from the settings."""
    # The request, the settings and the bot name each timeout alike (`waiting_room_timeout_s`, ...).
    asked = request.automatic_leave
    leave = AutomaticLeave(
        **{name: asked.get(name) or getattr(settings, name) for name in AutomaticLeave.model_fields}
    )
    return BotConfig(
        meeting_id=meeting_id,
        platform=platform,
        meeting_url=meeting_url,
        bot_name=request.bot_name or DEFAULT_BOT_NAME,
        language=request.language,
        task=request.task or "transcribe",
        transcribe_enabled=request.transcribe_enabled is not False,
        recording_enabled=bool(request.recording_enabled),
        automatic_leave=leave,
        join_timeout_s=settings.bot_join_timeout_s,
        chromium_path=str(settings.chromium_path) if settings.chromium_path else None,
        appliance_url=settings.loopback_url,  # a child of this box: plain HTTP on loopback, no pin
        asr_url=f"ws://{settings.asr_host}:{settings.asr_port}",
    )


class MeetingService:
    def __init__(
        self, settings: Settings, db: Database, lifecycle: LifecycleStore, runtime: BotRuntime
    ) -> None:
        self.settings = settings
        self.db = db
        self.lifecycle = lifecycle
        self.runtime = runtime
        # Admission checks (409, 429) and the insert must not interleave between two requests.
        self._admission = asyncio.Lock()
        self._bot_meter, self._box_meter = BotMeter(), BoxMeter()
        self._background: set[asyncio.Task[None]] = set()

    # ---- lookups --------------------------------------------------------------------------

    async def find(
        self, user_id: int, platform: str, native_meeting_id: str, meeting_id: int | None = None,
        *, readers: bool = False,
    ) -> Meeting:
        """The user's newest meeting for (platform, native id), or the one `meeting_id` names.
        `readers`: also one the user only reads (appliance/meetings/access.py), for reads."""
        try:
            Platform(platform)
        except ValueError as exc:
            raise Invalid(
                f"unknown platform {platform!r}; use google_meet, teams or zoom"
            ) from exc
        query = select(Meeting).where(
            readable_by(user_id) if readers else Meeting.user_id == user_id,
            Meeting.platform == platform,
            Meeting.native_meeting_id == native_meeting_id,
        )
        if meeting_id is not None:
            query = query.where(Meeting.id == meeting_id)
        async with self.db.session() as session:
            meeting = await session.scalar(query.order_by(Meeting.id.desc()).limit(1))
        if meeting is None:
            raise NotFound(f"No meeting {platform}/{native_meeting_id} found for this user.")
        return meeting

    async def get_owned(self, user_id: int, meeting_id: int, *, readers: bool = False) -> Meeting:
        async with self.db.session() as session:
            if readers:
                meeting = await session.scalar(select(Meeting).where(Meeting.id == meeting_id, readable_by(user_id)))
            else:
                meeting = await session.get(Meeting, meeting_id)
        if meeting is None or (not readers and meeting.user_id != user_id):
            # 404, not 403: another user's meeting must not be revealed to exist.
            raise NotFound(f"No meeting {meeting_id} found for this user.")
        return meeting

    # ---- launch ---------------------------------------------------------------------------

    async def launch(self, user: User, request: BotOrder, scheduled_id: int | None = None) -> Meeting:
        """Start a bot now. `scheduled_id`: the bot of that scheduled meeting, which the sweep
        (appliance/scheduling/sweep.py) claims here; Conflict if it is no longer `scheduled`."""
        ref = resolve_ref(request, self.settings)
        if ref.platform not in BOT_PLATFORMS:
            raise Invalid(NO_BOT_YET.format(platform=PLATFORM_NAMES[ref.platform]))
        url = join_url(ref, self.settings)
        secret = new_secret(BOT_TOKEN_PREFIX)
        async with self._admission, self.db.session() as session:
            live_same = await session.scalar(
                select(Meeting.id).where(
                    Meeting.user_id == user.id,
                    Meeting.platform == ref.platform.value,
                    Meeting.native_meeting_id == ref.native_meeting_id,
                    Meeting.status.in_(LIVE),
                )
            )
            if live_same is not None:
                raise Conflict(
                    f"Meeting {ref.platform}/{ref.native_meeting_id} already has a live bot "
                    f"(meeting {live_same}); stop it first with DELETE /bots/{ref.platform}/"
                    f"{ref.native_meeting_id}.",
                )
            if user.max_concurrent_bots > 0:
                running = await session.scalar(
                    select(func.count(Meeting.id)).where(
                        Meeting.user_id == user.id, Meeting.status.in_(LIVE)
                    )
                )
                if (running or 0) >= user.max_concurrent_bots:
                    raise OverLimit(
                        f"You already have {running} live bot(s), your limit is "
                        f"{user.max_concurrent_bots}; stop one or ask an administrator to raise it.",
                    )
            await self._check_capacity(session)
            now = utcnow()
            if scheduled_id is None:
                scheduled = ScheduledMeeting(
                    user_id=user.id,
                    platform=ref.platform.value,
                    native_meeting_id=ref.native_meeting_id,
                    passcode=ref.passcode,
                    meeting_url=url,
                    calendar_provider="api",
                    start_at=now,
                    state="launched",
                )
                session.add(scheduled)
                await session.flush()
            else:
                scheduled = await self._claim(session, scheduled_id, now)
            meeting = Meeting(
                user_id=user.id,
                scheduled_meeting_id=scheduled.id,
                platform=ref.platform.value,
                native_meeting_id=ref.native_meeting_id,
                constructed_meeting_url=url,
                status=MeetingStatus.REQUESTED.value,
                transitions=[
                    {"from": None, "to": "requested", "at": now.isoformat(),
                     "source": (TransitionSource.SYSTEM if scheduled_id else TransitionSource.USER).value,
                     "reason": "scheduled" if scheduled_id else None}
                ],
                bot_token_hash=secret.digest,
                runtime_kind=self.runtime.kind,
                created_at=now,
                updated_at=now,
            )
            session.add(meeting)
            await session.flush()  # the meeting's id is part of its bot's configuration
            config = bot_config(self.settings, request, meeting.id, ref.platform.value, url)
            scheduled.options = {**scheduled.options, **config.options()}
            meeting.data = {**config.options(), "passcode": ref.passcode}
            if scheduled_id is not None and scheduled.title:
                meeting.data["name"] = scheduled.title  # the calendar event's, as a user would name it
            await session.commit()
        await self._start_bot(meeting, secret.value, config)
        return await self.get_owned(user.id, meeting.id)

    async def _claim(self, session: AsyncSession, scheduled_id: int, now: datetime) -> ScheduledMeeting:
        """Mark a scheduled meeting launched, if it still waits: one conditional UPDATE, so two
        sweeps (or a sweep and a restart) never start two bots for it."""
        claimed = await session.execute(
            update(ScheduledMeeting)
            .where(ScheduledMeeting.id == scheduled_id, ScheduledMeeting.state == "scheduled")
            .values(state="launched", launched_at=now, error=None)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            raise Conflict(f"Scheduled meeting {scheduled_id} is no longer waiting for its bot.")
        scheduled = await session.get(ScheduledMeeting, scheduled_id, populate_existing=True)
        assert scheduled is not None
        return scheduled

    async def _check_capacity(self, session: AsyncSession) -> None:
        """503 with Retry-After when the box cannot hold another bot (appliance.capacity)."""
        live = await session.scalar(select(func.count(Meeting.id)).where(Meeting.status.in_(LIVE)))
        handles = list(self.runtime.running().values())
        load = await box_load(self.settings, self._bot_meter, self._box_meter, handles, live or 0)
        verdict = decide(load, Limits.from_settings(self.settings))
        if not verdict.admit:
            log.warning("bot refused, %s full: %s", "/".join(verdict.full), verdict.detail)
            raise Unavailable(verdict.detail, verdict.retry_after_s)

    async def _start_bot(self, meeting: Meeting, token: str, config: BotConfig) -> None:
        try:
            async with self.lifecycle.lock(meeting.id):
                handle = await self.runtime.launch(BotLaunch(config, token))
                async with self.db.session() as session:
                    stored = await session.get(Meeting, meeting.id)
                    assert stored is not None
                    stored.bot_container_id = handle
                    await session.commit()
        except Exception as exc:  # a launch failure must still end the meeting
            log.exception("could not launch the bot of meeting %s", meeting.id)
            await self.lifecycle.move(
                meeting.id, MeetingStatus.FAILED, TransitionSource.SYSTEM,
                error_details=f"the bot could not be started: {exc}",
            )

    # ---- stop and reconfigure -------------------------------------------------------------

    async def stop(self, user_id: int, platform: str, native_meeting_id: str) -> Meeting:
        meeting = await self.find(user_id, platform, native_meeting_id)
        if meeting.status not in LIVE:
            raise Conflict(
                f"The bot of {platform}/{native_meeting_id} is not running ({meeting.status})."
            )
        if meeting.status != MeetingStatus.STOPPING:
            try:
                meeting, _ = await self.lifecycle.move(
                    meeting.id, MeetingStatus.STOPPING, TransitionSource.USER, reason="stop requested"
                )
            except IllegalTransition:
                meeting = await self.get_owned(user_id, meeting.id)  # it ended meanwhile
        if meeting.status == MeetingStatus.STOPPING:
            self._in_background(self._stop_bot(meeting))
        return meeting

    async def stop_all(self, reason: str) -> None:
        """Ask every running bot to leave and wait for them (appliance shutdown)."""
        running = self.runtime.running()
        for meeting_id in running:
            with contextlib.suppress(IllegalTransition):
                await self.lifecycle.move(
                    meeting_id, MeetingStatus.STOPPING, TransitionSource.SYSTEM, reason=reason
                )
        await asyncio.gather(
            *(self.runtime.stop(handle, self.settings.bot_stop_grace_s) for handle in running.values())
        )

    async def _stop_bot(self, meeting: Meeting) -> None:
        if meeting.bot_container_id and self.runtime.is_alive(meeting.bot_container_id):
            await self.runtime.stop(meeting.bot_container_id, self.settings.bot_stop_grace_s)
        else:
            await self.finish_without_bot(meeting.id, "the bot was not running")

    async def reconfigure(
        self, user_id: int, platform: str, native_meeting_id: str, changes: dict[str, str | None]
    ) -> Meeting:
        meeting = await self.find(user_id, platform, native_meeting_id)
        async with self.lifecycle.lock(meeting.id), self.db.session() as session:
            stored = await session.get(Meeting, meeting.id)
            assert stored is not None
            if stored.status not in LIVE or stored.status == MeetingStatus.STOPPING:
                raise Conflict(f"The bot of {platform}/{native_meeting_id} is not running.")
            # `data["bot_config"]` counts the changes (`version`, which the bot polls for); the
            # live values are `data`'s language and task, where the bot's BotConfig started them.
            config = dict(stored.data.get("bot_config") or {})
            config.update(changes)
            config["version"] = int(config.get("version", 0)) + 1
            stored.data["bot_config"] = config
            for key in ("language", "task"):
                if key in config:
                    stored.data[key] = config[key]
            await session.commit()
        return stored

    # ---- bot exits and reconciliation -----------------------------------------------------

    async def on_bot_exit(self, exit: BotExit) -> None:
        async with self.db.session() as session:
            meeting = await session.get(Meeting, exit.meeting_id)
        if meeting is None or meeting.status in {s.value for s in TERMINAL_STATES}:
            return
        if meeting.bot_container_id not in (None, exit.handle):
            return  # an older execution's exit; the meeting has moved on
        code = "unknown code" if exit.exit_code is None else f"code {exit.exit_code}"
        details = f"the bot exited ({code}) without reporting an end"
        if exit.output_tail:
            details += f"; its last output:\n{exit.output_tail[-1500:]}"
        await self.finish_without_bot(exit.meeting_id, details)

    async def finish_without_bot(self, meeting_id: int, details: str) -> None:
        """Forced finalisation: the bot is gone, so the server decides the end state."""
        async with self.db.session() as session:
            meeting = await session.get(Meeting, meeting_id)
        if meeting is None or meeting.status in {s.value for s in TERMINAL_STATES}:
            return
        try:
            if meeting.status == MeetingStatus.STOPPING:
                await self.lifecycle.move(
                    meeting_id, MeetingStatus.COMPLETED, TransitionSource.SYSTEM,
                    reason=CompletionReason.STOPPED.value,
                )
            else:
                await self.lifecycle.move(
                    meeting_id, MeetingStatus.FAILED, TransitionSource.SYSTEM, error_details=details
                )
        except IllegalTransition:
            pass  # the bot's own final report won the race; nothing left to do

    async def reconcile(self) -> int:
        """At start: re-attach to bots that survived a restart, finalise meetings whose bot is gone."""
        async with self.db.session() as session:
            live = (await session.scalars(select(Meeting).where(Meeting.status.in_(LIVE)))).all()
        for meeting in live:
            if meeting.bot_container_id and meeting.runtime_kind == self.runtime.kind:
                await self.runtime.adopt(meeting.id, meeting.bot_container_id)
            else:
                await self.finish_without_bot(
                    meeting.id, "the appliance restarted before this meeting's bot was started"
                )
                if meeting.bot_container_id is None and meeting.scheduled_meeting_id is not None:
                    await self._wait_again(meeting.scheduled_meeting_id)
        return len(live)

    async def _wait_again(self, scheduled_id: int) -> None:
        """A scheduled meeting (join_at or a calendar's) whose bot a crash kept from starting waits
        again, so the first sweep after start-up starts it if it is still in time."""
        async with self.db.session() as session:
            await session.execute(
                update(ScheduledMeeting)
                .where(ScheduledMeeting.id == scheduled_id, ScheduledMeeting.state == "launched",
                       or_(ScheduledMeeting.join_at.is_not(None), ScheduledMeeting.dedupe_key.is_not(None)))
                .values(state="scheduled", launched_at=None,
                        error="the appliance restarted before its bot was started; starting it again")
            )
            await session.commit()

    # ---- background work ------------------------------------------------------------------

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        if self._background:
            await asyncio.wait(set(self._background))
