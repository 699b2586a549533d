"""What the appliance needs from a place that runs bots (local processes, k3s Jobs, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.bot_config import BotConfig


@dataclass(frozen=True)
class BotLaunch:
    config: BotConfig  # everything the bot is told, handed to it as one JSON document
    bot_token: str  # the one secret, kept out of the document (a k3s Job takes it from a Secret)

    @property
    def meeting_id(self) -> int:
        return self.config.meeting_id


@dataclass(frozen=True)
class BotExit:
    meeting_id: int
    handle: str
    exit_code: int | None
    output_tail: str


ExitCallback = Callable[[BotExit], Awaitable[None]]


class BotRuntime(Protocol):
    kind: str

    def set_exit_callback(self, on_exit: ExitCallback) -> None:
        """Register what to call when a bot exits (the meeting service's finaliser)."""

    async def launch(self, launch: BotLaunch) -> str:
        """Start a bot; returns the runtime handle stored as `bot_container_id`."""

    async def stop(self, handle: str, grace_s: float) -> None:
        """Ask the bot to leave; kill it if it is still there after `grace_s` seconds."""

    def is_alive(self, handle: str) -> bool:
        """Whether the bot behind `handle` still runs."""

    async def adopt(self, meeting_id: int, handle: str) -> None:
        """Watch a bot started by an earlier run of the appliance until it exits."""

    async def shutdown(self, grace_s: float) -> None:
        """Stop every bot this runtime watches (appliance shutdown)."""

    def running(self) -> dict[int, str]:
        """Meeting id -> handle of every bot being watched."""
