"""One meeting, from the opened browser to a reported end: the bot's lifecycle around its parts.

joining (open the link, name, microphone and camera off, join or ask to join) ->
awaiting_admission (lobby text seen) -> active (admitted, bot.admission) -> completed with the
reason the meeting gave (bot.leave_rules: left_alone, nobody_joined, removed, meeting_ended,
max_duration; bot.admission: admission_timeout, admission_rejected; or stopped), or failed
(page error, browser gone) with details. A stop (SIGTERM from the runtime, or the appliance's
stop command, bot.commands) makes the bot click "Leave" and end `completed`/`stopped`.

The session owns the browser and the page, reports each move, and runs the loops that look at
the page; what a look means is decided by the platform (bot.platform), the admission and the
leave rules, none of which needs a browser. The audio goes through bot.audio_router.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from appliance.bot_config import BotConfig
from appliance.browser import find_chromium
from appliance.lifecycle import CompletionReason, MeetingStatus
from bot import browser
from bot.admission import Admission
from bot.appliance_link import ApplianceLink
from bot.asr_stream import StreamSettings
from bot.audio_router import AudioRouter
from bot.commands import CommandWatcher
from bot.leave_rules import REMOTE_AUDIO_WINDOW_S, LeaveRules
from bot.meeting_page import JoinTimeout, MeetingPage, PageError, init_script
from bot.platform import platform_named
from bot.probe import Probe
from bot.recording_stream import RecordingStream

log = logging.getLogger("vomeet.bot")
PROBE_S = 1.0  # between looks at the page in the call
BROWSER_CLOSE_S = 10.0
T = TypeVar("T")


class StopRequested(Exception):
    pass


class BrowserGone(Exception):
    pass


class BotSession:
    def __init__(self, config: BotConfig, link: ApplianceLink, token: str = "",
                 shots_dir: Path | None = None) -> None:
        self.config = config
        self.link = link
        self.token = token
        self.shots_dir = shots_dir
        self.platform = platform_named(config.platform)  # UnknownPlatform: never another's flow
        self.stop_event = asyncio.Event()
        self.commands = CommandWatcher(link, self.stop_event, self._reconfigure)
        self.router: AudioRouter | None = None
        # The live language and task: the BotConfig's, then the appliance's commands' (one may
        # come before the audio is wired).
        self.language: str | None = config.language
        self.task: str = config.task
        self.browser_gone: str | None = None
        self.status = MeetingStatus.JOINING

    # -- stops and reports ---------------------------------------------------------------------
    def _reconfigure(self, language: str | None, task: str) -> None:
        self.language, self.task = language, task
        if self.router is not None:
            log.info("new configuration: language %s, task %s", language, task)
            self.router.reconfigure(language, task)

    async def _until_stopped(self, work: Awaitable[T]) -> T:
        """Run `work` unless a stop arrives first."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(self.stop_event.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            stopper.cancel()
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # its end no longer matters
            await task
        raise StopRequested

    async def _report(self, status: MeetingStatus, reason: CompletionReason | None = None,
                      error_details: str | None = None) -> None:
        await self.link.report(status, reason, error_details)
        self.status = status

    async def run(self) -> int:
        await self._report(MeetingStatus.JOINING)
        poller = asyncio.create_task(self.commands.watch())
        try:
            return await self._session()
        finally:
            self.stop_event.set()
            # The poller may be retrying through an appliance restart; the bot's own end
            # does not wait for that (nor for the answer, which would only be "ended").
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    # -- the browser ---------------------------------------------------------------------------
    async def _session(self) -> int:
        url = self.config.meeting_url
        chromium_path = self.config.chromium_path
        executable = Path(chromium_path) if chromium_path else find_chromium()
        async with browser.driver() as playwright:
            try:
                chromium = await self._until_stopped(browser.launch(playwright, executable))
            except StopRequested:
                await self._report(MeetingStatus.COMPLETED, CompletionReason.STOPPED)
                return 0
            chromium.on("disconnected", lambda _: self._gone("the browser exited"))
            mp: MeetingPage | None = None
            try:
                context = await browser.new_context(chromium)
                await context.add_init_script(init_script(self.platform.SELECTORS))
                page = await browser.new_page(context)
                page.on("crash", lambda _: self._gone("the meeting page crashed"))
                await self._prepare_audio(page)
                mp = MeetingPage(page, self.shots_dir)
                return await self._attend(page, mp, url)
            except StopRequested:
                if mp is not None and self.status in (MeetingStatus.ACTIVE, MeetingStatus.AWAITING_ADMISSION):
                    await mp.leave()
                await self._report(MeetingStatus.COMPLETED, CompletionReason.STOPPED)
                return 0
            except (PlaywrightError, BrowserGone) as exc:
                if self.stop_event.is_set() and self.browser_gone is None:
                    await self._report(MeetingStatus.COMPLETED, CompletionReason.STOPPED)
                    return 0
                cause = self.browser_gone or "the browser failed"
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                await self._report(
                    MeetingStatus.FAILED,
                    error_details=f"{cause} while {self.status.value}: {detail}"[:500],
                )
                return 1
            finally:
                if self.router is not None:
                    with contextlib.suppress(Exception):
                        await self.router.close()
                with contextlib.suppress(Exception):  # a browser that will not close is gone with us
                    await asyncio.wait_for(chromium.close(), BROWSER_CLOSE_S)

    def _gone(self, what: str) -> None:
        if self.browser_gone is None and not self.stop_event.is_set():
            log.error("%s", what)
        self.browser_gone = self.browser_gone or what

    async def _prepare_audio(self, page: Page) -> None:
        config = self.config
        settings = StreamSettings(
            url=config.asr_url, token=self.token, meeting_id=config.meeting_id,
            language=self.language, task=self.task,
        ) if config.transcribe_enabled else None
        recording = RecordingStream(config.appliance_url, self.token) if config.recording_enabled else None
        self.router = AudioRouter(settings, mixed=self.platform.MIXED_AUDIO, recording=recording,
                                  post_turns=self.link.speakers)
        await browser.bind(page, "vomeetAudio", self.router.on_blocks)

    # -- the meeting ---------------------------------------------------------------------------
    async def _attend(self, page: Page, mp: MeetingPage, url: str) -> int:
        timeout_s = self.config.join_timeout_s
        try:
            await self._until_stopped(page.goto(url, timeout=timeout_s * 1000))
        except PlaywrightError as exc:
            if self.browser_gone:
                raise
            message = str(exc).splitlines()[0]
            await self._report(MeetingStatus.FAILED, error_details=f"could not open {url}: {message}")
            return 1
        try:
            await self._until_stopped(self.platform.prejoin(mp, self.config.bot_name, timeout_s))
        except (PageError, JoinTimeout) as exc:
            await mp.screenshot("join-failed")
            log.error("%s", exc)
            await self._report(MeetingStatus.FAILED, error_details=str(exc)[:500])
            return 1
        await mp.screenshot("join-clicked")
        outcome = await self._until_stopped(self._admission(mp))
        if outcome is not None:
            await mp.screenshot(outcome.value)
            await self._report(MeetingStatus.COMPLETED, outcome)
            return 0
        reason = await self._until_stopped(self._in_call(page, mp))
        await mp.screenshot(reason.value)
        if reason not in (CompletionReason.REMOVED, CompletionReason.MEETING_ENDED):
            await mp.leave()
        await self._report(MeetingStatus.COMPLETED, reason)
        return 0

    async def _probe(self, mp: MeetingPage) -> Probe:
        if self.browser_gone:
            raise BrowserGone(self.browser_gone)
        return await mp.probe()

    async def _admission(self, mp: MeetingPage) -> CompletionReason | None:
        """None once admitted; else why the bot never got in."""
        admission = Admission(self.platform.admitted, asked_at=time.monotonic(),
                              waiting_room_timeout_s=self.config.automatic_leave.waiting_room_timeout_s)
        while True:
            look = admission.decide(await self._probe(mp), time.monotonic())
            if look.entered_lobby:
                log.info("in the lobby: %s", look.entered_lobby)
                await self._report(MeetingStatus.AWAITING_ADMISSION)
                await mp.screenshot("lobby")
            if look.admitted:
                return None
            if look.outcome is not None:
                return look.outcome
            await asyncio.sleep(look.delay_s)

    async def _in_call(self, page: Page, mp: MeetingPage) -> CompletionReason:
        await self._report(MeetingStatus.ACTIVE)
        await mp.screenshot("admitted")
        capture = {"mix": self.config.recording_enabled, "turns": self.platform.MIXED_AUDIO}
        await page.evaluate("o => window.__vomeet.startCapture(o)", capture)
        if self.platform.MIXED_AUDIO and (await mp.probe()).signals.get("people"):
            with contextlib.suppress(PlaywrightError, JoinTimeout):
                await mp.click("people")  # the roster counts who is left
        leave = self.config.automatic_leave
        rules = LeaveRules(self.config.bot_name, admitted_at=time.monotonic(),
                           left_alone_timeout_s=leave.left_alone_timeout_s,
                           nobody_joined_timeout_s=leave.nobody_joined_timeout_s,
                           max_duration_s=leave.max_duration_s)
        assert self.router is not None
        while True:
            probe = await self._probe(mp)
            heard = self.router.remote_audio_recently(REMOTE_AUDIO_WINDOW_S)
            reason = rules.decide(probe, heard, time.monotonic())
            if reason is not None:
                return reason
            await asyncio.sleep(PROBE_S)
