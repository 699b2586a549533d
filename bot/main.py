"""`vomeet bot`: one meeting bot, from start to a reported end.

This build opens the meeting page in Chromium and reports what happens. Platform join flows
(name, lobby, admission, audio capture) are not part of it yet, so a bot whose page opens
reports `failed` with that reason instead of pretending to have joined. A stop request (SIGTERM
from the runtime, or the appliance's stop flag) ends the meeting `completed`/`stopped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from appliance.browser import find_chromium
from appliance.lifecycle import CompletionReason, MeetingStatus
from bot import browser
from bot.appliance_link import ApplianceLink, ReportRefused

log = logging.getLogger("vomeet.bot")
COMMAND_POLL_S = 2.0


class StopRequested(Exception):
    pass


class Bot:
    def __init__(self, config: dict[str, Any], link: ApplianceLink) -> None:
        self.config = config
        self.link = link
        self.stop_event = asyncio.Event()

    async def _watch_commands(self) -> None:
        """Polls the appliance so a stop reaches the bot even where no signal can (k3s)."""
        while not self.stop_event.is_set():
            try:
                if (await self.link.command()).stop:
                    self.stop_event.set()
                    return
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
        with contextlib.suppress(asyncio.CancelledError, PlaywrightError):
            await task
        raise StopRequested

    async def run(self) -> int:
        await self.link.report(MeetingStatus.JOINING)
        poller = asyncio.create_task(self._watch_commands())
        try:
            return await self._join()
        except StopRequested:
            await self.link.report(MeetingStatus.COMPLETED, CompletionReason.STOPPED)
            return 0
        finally:
            self.stop_event.set()
            # The poller may be retrying through an appliance restart; the bot's own end
            # does not wait for that (nor for the answer, which would only be "ended").
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def _join(self) -> int:
        url = self.config["meeting_url"]
        chromium_path = self.config.get("chromium_path")
        executable = Path(chromium_path) if chromium_path else find_chromium()
        async with async_playwright() as playwright:
            chromium = await self._until_stopped(browser.launch(playwright, executable))
            try:
                page = await chromium.new_page()
                timeout_ms = float(self.config.get("join_timeout_s", 60)) * 1000
                try:
                    await self._until_stopped(page.goto(url, timeout=timeout_ms))
                except PlaywrightError as exc:
                    message = str(exc).splitlines()[0]
                    await self.link.report(
                        MeetingStatus.FAILED, error_details=f"could not open {url}: {message}"
                    )
                    return 1
                title = await page.title()
                await self.link.report(
                    MeetingStatus.FAILED,
                    error_details=(
                        f"opened {url} (page title {title!r}) but this build of the bot has no "
                        f"join flow for {self.config['platform']} yet"
                    ),
                )
                return 1
            finally:
                with contextlib.suppress(PlaywrightError):
                    await chromium.close()


def run_bot(meeting_id: int) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        token = os.environ["VOMEET_BOT_TOKEN"]
        api_url = os.environ["VOMEET_BOT_API_URL"]
        config = json.loads(os.environ["VOMEET_BOT_CONFIG"])
    except (KeyError, ValueError) as exc:
        log.error("the bot is started by the appliance's runtime, not by hand (missing %s)", exc)
        return 2
    if config.get("meeting_id") != meeting_id:
        log.error("--meeting-id %s does not match the configuration's meeting", meeting_id)
        return 2
    return asyncio.run(_main(config, api_url, token))


async def _main(config: dict[str, Any], api_url: str, token: str) -> int:
    link = ApplianceLink(api_url, token)
    bot = Bot(config, link)
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
