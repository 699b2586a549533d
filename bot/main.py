"""`vomeet bot`: one meeting bot, from start to a reported end.

joining (open the link, name, microphone and camera off, join or ask to join) ->
awaiting_admission (lobby text seen) -> active (admitted: several in-call signals, no lobby
text, confirmed a moment later) -> completed with the reason the meeting gave (stopped,
left_alone, nobody_joined, admission_timeout, admission_rejected, removed, meeting_ended,
max_duration), or failed (page error, browser gone) with details; the server derives the stage.
A stop request (SIGTERM from the runtime, or the appliance's stop flag) makes the bot click
"Leave" and end `completed`/`stopped`. See docs/bot.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright
from pydantic import ValidationError

from appliance.bot_config import CONFIG_ENV, TOKEN_ENV, BotConfig, explain
from appliance.browser import find_chromium
from appliance.lifecycle import CompletionReason, MeetingStatus
from appliance.logging_redact import configure_logging
from bot import browser, google_meet, teams
from bot.appliance_link import ApplianceLink, ReportRefused
from bot.audio import AudioRouter, RecordingStream, StreamSettings
from bot.meeting_page import JoinTimeout, MeetingPage, PageError, Probe, init_script

log = logging.getLogger("vomeet.bot")
COMMAND_POLL_S = 2.0
PROBE_S = 1.0
CONFIRM_ADMISSION_S = 1.0
REMOTE_AUDIO_WINDOW_S = 3.0  # remote speech this recent means someone is still there
LEAVE_TIMEOUT_S = 4.0
SLIM_ENV = "VOMEET_BOT_SLIM"
NODE_OPTIONS = "--max-semi-space-size=1 --max-old-space-size=128 --jitless"
PLATFORMS: dict[str, ModuleType] = {"google_meet": google_meet, "teams": teams}
R = CompletionReason


class StopRequested(Exception):
    pass


class UnknownPlatform(ValueError):
    pass


class BrowserGone(Exception):
    pass


class Bot:
    def __init__(self, config: BotConfig, link: ApplianceLink, token: str = "") -> None:
        self.config = config
        self.link = link
        self.token = token
        self.stop_event = asyncio.Event()
        platform = config.platform
        if platform not in PLATFORMS:  # never a silent fallback to another platform's flow
            raise UnknownPlatform(f"this bot has no flow for platform {platform!r} (known: {', '.join(PLATFORMS)})")
        self.platform: ModuleType = PLATFORMS[platform]
        leave = config.automatic_leave
        self.waiting_room_timeout_s = float(leave.waiting_room_timeout_s)
        self.nobody_joined_timeout_s = float(leave.nobody_joined_timeout_s)
        self.left_alone_timeout_s = float(leave.left_alone_timeout_s)
        self.max_duration_s = float(leave.max_duration_s)
        self.router: AudioRouter | None = None
        self.config_version = 0
        self.browser_gone: str | None = None
        self.status = MeetingStatus.JOINING

    # -- commands and stops ------------------------------------------------------------------
    async def _watch_commands(self) -> None:
        """Polls the appliance so a stop reaches the bot even where no signal can (k3s)."""
        while not self.stop_event.is_set():
            try:
                command = await self.link.command()
                if command.stop:
                    self.stop_event.set()
                    return
                if command.config_version > self.config_version:
                    if self.config_version and self.router is not None:
                        log.info("new configuration: language %s, task %s", command.language, command.task)
                        self.router.reconfigure(command.language, command.task or "transcribe")
                    self.config_version = command.config_version
            except ConnectionError:
                pass
            except ReportRefused as exc:  # the meeting has ended without us: leave
                log.warning("the appliance no longer accepts this bot (%s); leaving", exc)
                self.stop_event.set()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), COMMAND_POLL_S)

    async def _until_stopped(self, work: Any) -> Any:
        """Run `work` unless a stop arrives first."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(self.stop_event.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            stopper.cancel()
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, PlaywrightError, Exception):
            await task
        raise StopRequested

    async def _report(self, status: MeetingStatus, reason: CompletionReason | None = None,
                      error_details: str | None = None) -> None:
        await self.link.report(status, reason, error_details)
        self.status = status

    async def run(self) -> int:
        await self._report(MeetingStatus.JOINING)
        poller = asyncio.create_task(self._watch_commands())
        try:
            return await self._session()
        finally:
            self.stop_event.set()
            # The poller may be retrying through an appliance restart; the bot's own end
            # does not wait for that (nor for the answer, which would only be "ended").
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    # -- the session -------------------------------------------------------------------------
    async def _session(self) -> int:
        url = self.config.meeting_url
        chromium_path = self.config.chromium_path
        executable = Path(chromium_path) if chromium_path else find_chromium()
        async with async_playwright() as playwright:
            try:
                chromium = await self._until_stopped(browser.launch(playwright, executable))
            except StopRequested:
                await self._report(MeetingStatus.COMPLETED, R.STOPPED)
                return 0
            chromium.on("disconnected", lambda _: self._gone("the browser exited"))
            mp: MeetingPage | None = None
            try:
                context = await browser.new_context(chromium)
                await context.add_init_script(init_script(self.platform.SELECTORS))
                page = await browser.new_page(context)
                page.on("crash", lambda _: self._gone("the meeting page crashed"))
                await self._prepare_audio(page)
                mp = MeetingPage(page, screenshots_dir(self.config.meeting_id))
                return await self._attend(page, mp, url)
            except StopRequested:
                if mp is not None and self.status in (MeetingStatus.ACTIVE, MeetingStatus.AWAITING_ADMISSION):
                    await self._leave(mp)
                await self._report(MeetingStatus.COMPLETED, R.STOPPED)
                return 0
            except (PlaywrightError, BrowserGone) as exc:
                if self.stop_event.is_set() and self.browser_gone is None:
                    await self._report(MeetingStatus.COMPLETED, R.STOPPED)
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
                with contextlib.suppress(PlaywrightError, Exception):
                    await asyncio.wait_for(chromium.close(), 10)

    def _gone(self, what: str) -> None:
        if self.browser_gone is None and not self.stop_event.is_set():
            log.error("%s", what)
        self.browser_gone = self.browser_gone or what

    async def _prepare_audio(self, page: Page) -> None:
        config = self.config
        settings = StreamSettings(
            url=config.asr_url, token=self.token, meeting_id=config.meeting_id,
            language=config.language, task=config.task,
        ) if config.transcribe_enabled else None
        recording = RecordingStream(config.appliance_url, self.token) if config.recording_enabled else None
        self.router = AudioRouter(settings, mixed=self.platform.MIXED_AUDIO, recording=recording,
                                  post_turns=self.link.speakers)
        await browser.bind(page, "vomeetAudio", self.router.on_blocks)

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
        if reason not in (R.REMOVED, R.MEETING_ENDED):
            await self._leave(mp)
        await self._report(MeetingStatus.COMPLETED, reason)
        return 0

    async def _probe(self, mp: MeetingPage) -> Probe:
        if self.browser_gone:
            raise BrowserGone(self.browser_gone)
        return await mp.probe()

    async def _admission(self, mp: MeetingPage) -> CompletionReason | None:
        """None once admitted; else why the bot never got in."""
        asked_at = time.monotonic()
        while True:
            probe = await self._probe(mp)
            texts = probe.texts
            if texts.get("rejected"):
                log.info("refused: %s", texts["rejected"])
                return R.ADMISSION_REJECTED
            if texts.get("removed"):
                return R.ADMISSION_REJECTED
            if texts.get("ended"):
                return R.MEETING_ENDED
            if self.platform.admitted(probe):
                # Confirm a moment later: a page between lobby and call can show both.
                await asyncio.sleep(CONFIRM_ADMISSION_S)
                again = await self._probe(mp)
                if self.platform.admitted(again) and not (again.texts.get("rejected") or again.texts.get("removed")):
                    log.info("admitted (signals %s)", sorted(k for k, v in again.signals.items() if v))
                    return None
                continue
            if texts.get("lobby") and self.status == MeetingStatus.JOINING:
                log.info("in the lobby: %s", texts["lobby"])
                await self._report(MeetingStatus.AWAITING_ADMISSION)
                await mp.screenshot("lobby")
            if time.monotonic() - asked_at > self.waiting_room_timeout_s:
                log.info("not admitted within %g s", self.waiting_room_timeout_s)
                return R.ADMISSION_TIMEOUT
            await asyncio.sleep(0.5)

    def _others(self, probe: Probe) -> int:
        """Participants other than the bot: the roster where it is open, else the tiles."""
        me = self.config.bot_name.strip().lower()

        def others(names: list[str]) -> int:
            return sum(1 for n in names if n and n.strip().lower() not in (me, "you")
                       and "(you)" not in n.lower() and not n.strip().lower().startswith(me + " "))

        if probe.roster:
            return others(probe.roster)
        return others(probe.tiles)

    async def _in_call(self, page: Page, mp: MeetingPage) -> CompletionReason:
        await self._report(MeetingStatus.ACTIVE)
        await mp.screenshot("admitted")
        capture = {"mix": self.config.recording_enabled, "turns": self.platform.MIXED_AUDIO}
        await page.evaluate("o => window.__vomeet.startCapture(o)", capture)
        if self.platform.MIXED_AUDIO and (await mp.probe()).signals.get("people"):
            with contextlib.suppress(PlaywrightError, JoinTimeout):
                await mp.click("people")  # the roster counts who is left
        admitted_at = time.monotonic()
        someone_seen = False
        alone_since: float | None = None
        no_controls_since: float | None = None
        while True:
            probe = await self._probe(mp)
            now = time.monotonic()
            if probe.texts.get("removed"):
                return R.REMOVED
            if probe.texts.get("ended"):
                return R.MEETING_ENDED
            if not probe.signals.get("leave"):
                no_controls_since = no_controls_since or now
                if now - no_controls_since > 15:
                    log.warning("the call controls are gone; the page shows %r", probe.body[:200])
                    return R.MEETING_ENDED
            else:
                no_controls_since = None
            assert self.router is not None
            others = self._others(probe)
            if others > 0 or self.router.remote_audio_recently(REMOTE_AUDIO_WINDOW_S):
                someone_seen = True
                if alone_since is not None:
                    log.info("not alone any more (%d others)", others)
                alone_since = None
            elif someone_seen and alone_since is None:
                log.info("everyone else seems gone; leaving after %g s unless someone is back",
                         self.left_alone_timeout_s)
                alone_since = now
            if someone_seen and alone_since is not None and now - alone_since >= self.left_alone_timeout_s:
                return R.LEFT_ALONE
            if not someone_seen and now - admitted_at >= self.nobody_joined_timeout_s:
                return R.NOBODY_JOINED
            if now - admitted_at >= self.max_duration_s:
                return R.MAX_DURATION
            await asyncio.sleep(PROBE_S)

    async def _leave(self, mp: MeetingPage) -> None:
        """Click "Leave" (and a confirmation where one follows); bounded, never raises."""
        async def leave() -> None:
            await mp.click("leave", timeout_s=2)
            with contextlib.suppress(Exception):
                for _ in range(4):
                    await asyncio.sleep(0.25)
                    if await mp.has("leave_confirm"):
                        await mp.click("leave_confirm", timeout_s=1)
                        break
            await mp.screenshot("left")

        try:
            await asyncio.wait_for(leave(), LEAVE_TIMEOUT_S)
            log.info("left the meeting")
        except Exception as exc:  # noqa: BLE001
            log.warning("could not leave gracefully: %s", str(exc).splitlines()[0] if str(exc) else exc)


def screenshots_dir(meeting_id: int) -> Path | None:
    """Beside the bot's log (its stdout), in `meeting-<id>-screens/`."""
    try:
        target = Path(os.readlink("/proc/self/fd/1"))
        if target.is_absolute() and stat.S_ISREG(target.stat().st_mode):
            return target.parent / f"meeting-{meeting_id}-screens"
    except OSError:
        pass
    return None


def run_bot(meeting_id: int) -> int:
    """Entered through `vomeet bot` (the CLI module, which imports the whole API stack: ~40 MB
    that a bot never uses). The bot replaces itself with `python -m bot`: same process id,
    start time, environment and log, so the runtime keeps its handle and exit status."""
    if not getattr(sys, "frozen", False) and os.environ.get(SLIM_ENV) != str(meeting_id):
        os.environ[SLIM_ENV] = str(meeting_id)
        sys.stdout.flush()
        sys.stderr.flush()
        with contextlib.suppress(OSError):  # no exec: carry on in this process
            os.execv(sys.executable, [sys.executable, "-m", "bot", "--meeting-id", str(meeting_id)])
    return _run_bot(meeting_id)


def bot_entry(argv: list[str]) -> int:
    """`python -m bot --meeting-id N`."""
    if len(argv) != 2 or argv[0] != "--meeting-id" or not argv[1].isdigit():
        print("usage: python -m bot --meeting-id N (started by the appliance's bot runtime)", file=sys.stderr)
        return 2
    os.environ[SLIM_ENV] = argv[1]
    return _run_bot(int(argv[1]))


def _run_bot(meeting_id: int) -> int:
    configure_logging("info")  # masks tokens in every line, as in every vomeet process
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per command poll otherwise
    try:
        token, document = os.environ[TOKEN_ENV], os.environ[CONFIG_ENV]
    except KeyError as exc:
        log.error("the bot is started by the appliance's runtime, not by hand (missing %s)", exc)
        return 2
    try:
        config = BotConfig.model_validate_json(document)
    except ValidationError as exc:
        log.error("%s is not a valid bot configuration: %s", CONFIG_ENV, explain(exc))
        return 2
    if config.meeting_id != meeting_id:
        log.error("--meeting-id %s does not match the configuration's meeting", meeting_id)
        return 2
    return asyncio.run(_main(config, token))


async def _main(config: BotConfig, token: str) -> int:
    # Playwright's driver (Node.js) inherits this: small young generation, bounded heap.
    os.environ.setdefault("NODE_OPTIONS", NODE_OPTIONS)
    link = ApplianceLink(config.appliance_url, token)
    try:
        bot = Bot(config, link, token)
    except UnknownPlatform as exc:
        log.error("%s", exc)
        await link.report(MeetingStatus.FAILED, error_details=str(exc))
        await link.close()
        return 2
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bot.stop_event.set)
    try:
        return await bot.run()
    except ReportRefused as exc:
        log.warning("the appliance refused a report: %s", exc)
        return 1
    except ConnectionError as exc:
        log.error("%s", exc)
        return 1
    finally:
        await link.close()
