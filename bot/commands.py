"""The appliance's commands to a running bot: stop, and a new language or task.

Polled (every COMMAND_POLL_S), so a stop reaches the bot even where no signal can (k3s). The
bot starts at version 0 (its BotConfig, built at launch); each `PUT /bots/.../config` counts one
up, and a version above the bot's own is applied, the first one included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bot.appliance_link import ApplianceLink, ReportRefused

log = logging.getLogger("vomeet.bot")
COMMAND_POLL_S = 2.0
Reconfigure = Callable[[str | None, str], None]  # (language, task)


class CommandWatcher:
    def __init__(self, link: ApplianceLink, stop: asyncio.Event, reconfigure: Reconfigure) -> None:
        self.link = link
        self.stop = stop
        self.reconfigure = reconfigure
        self.config_version = 0

    async def watch(self) -> None:
        """Until the bot stops, or the appliance tells it to."""
        while not self.stop.is_set():
            try:
                command = await self.link.command()
                if command.stop:
                    self.stop.set()
                    return
                if command.config_version > self.config_version:
                    self.reconfigure(command.language, command.task or "transcribe")
                    self.config_version = command.config_version
            except ConnectionError:
                pass
            except ReportRefused as exc:  # the meeting has ended without us: leave
                log.warning("the appliance no longer accepts this bot (%s); leaving", exc)
                self.stop.set()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), COMMAND_POLL_S)
