"""The meeting page as the bot sees it: a platform's selector table resolved in the page.

The in-page kit (pagekit.js) resolves a table key to elements (candidates in order, visible
ones only) and reads the page's state in one call (`probe`), so the bot polls cheaply. Actions
are done by Playwright with real input events on the element the kit marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from bot.probe import Probe

log = logging.getLogger("vomeet.bot.page")
KIT = (Path(__file__).parent / "pagekit.js").read_text()
POLL_S = 0.5
LEAVE_TIMEOUT_S = 4.0
LEAVE_CONFIRM_LOOKS, LEAVE_CONFIRM_POLL_S = 4, 0.25  # a second to look for a "Just leave the call" dialog


class PageError(Exception):
    """The meeting page shows an error (meeting not found, invalid link...)."""


class JoinTimeout(Exception):
    """A screen the join flow needs never appeared."""


def init_script(table: dict[str, Any]) -> str:
    return KIT.replace("__VOMEET_TABLE__", json.dumps(table))


class MeetingPage:
    def __init__(self, page: Page, shots_dir: Path | None) -> None:
        self.page = page
        self.shots_dir = shots_dir
        self._shot = 0

    async def probe(self) -> Probe:
        raw = await self.page.evaluate("() => window.__vomeet ? window.__vomeet.probe() : null")
        if raw is None:  # a navigation in progress: the kit is not there yet
            return Probe({}, {}, [], [], "", self.page.url)
        return Probe(**raw)

    async def wait_for(self, condition: Callable[[Probe], Any], timeout_s: float, what: str) -> Probe:
        """Poll the page until `condition(probe)`; a page error text ends the wait with PageError."""
        deadline = time.monotonic() + timeout_s
        while True:
            probe = await self.probe()
            if condition(probe):
                if probe.texts.get("page_error") and not probe.signals.get("join"):
                    raise PageError(_page_error(probe))
                return probe
            if time.monotonic() > deadline:
                raise JoinTimeout(f"{what} did not appear within {timeout_s:g} s; the page shows: {probe.body[:200]!r}")
            await asyncio.sleep(POLL_S)

    async def state_of(self, key: str) -> dict[str, Any] | None:
        """Marks the first element for `key` and returns its state attributes (None: absent)."""
        state: dict[str, Any] | None = await self.page.evaluate("key => window.__vomeet.mark(key, key)", key)
        return state

    async def has(self, key: str) -> bool:
        return await self.state_of(key) is not None

    async def click(self, key: str, timeout_s: float = 10) -> None:
        if await self.state_of(key) is None:
            raise JoinTimeout(f"no element for {key!r} on the page")
        log.info("clicking %s", key)
        await self.page.locator(f'[data-vomeet="{key}"]').first.click(timeout=timeout_s * 1000)

    async def fill(self, key: str, text: str) -> None:
        if await self.state_of(key) is None:
            raise JoinTimeout(f"no element for {key!r} on the page")
        field = self.page.locator(f'[data-vomeet="{key}"]').first
        await field.click(timeout=10_000)
        await field.fill("")
        await field.press_sequentially(text, delay=20)  # key events, as typing would send

    async def leave(self) -> None:
        """Click "Leave" (and a confirmation where one follows); bounded, never raises."""
        async def leave() -> None:
            await self.click("leave", timeout_s=2)
            with contextlib.suppress(Exception):
                for _ in range(LEAVE_CONFIRM_LOOKS):
                    await asyncio.sleep(LEAVE_CONFIRM_POLL_S)
                    if await self.has("leave_confirm"):
                        await self.click("leave_confirm", timeout_s=1)
                        break
            await self.screenshot("left")

        try:
            await asyncio.wait_for(leave(), LEAVE_TIMEOUT_S)
            log.info("left the meeting")
        except Exception as exc:  # noqa: BLE001
            log.warning("could not leave gracefully: %s", str(exc).splitlines()[0] if str(exc) else exc)

    async def screenshot(self, step: str) -> None:
        if self.shots_dir is None:
            return
        self._shot += 1
        path = self.shots_dir / f"{self._shot:02d}-{step}.png"
        try:
            self.shots_dir.mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(path), timeout=5000)
            log.info("screenshot %s", path)
        except Exception as exc:  # noqa: BLE001 (a screenshot never stops the bot)
            log.warning("no screenshot %s: %s", path.name, str(exc).splitlines()[0])


def _page_error(probe: Probe) -> str:
    return f"the meeting page says {probe.texts.get('page_error')!r}: {probe.body[:200]}"
