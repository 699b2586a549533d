"""What the bot needs of a meeting platform, and the one registry of platforms it has a flow for.

Each platform is a module (bot/google_meet.py, bot/teams.py) that implements `Platform`; mypy
checks each one against the protocol where it enters `PLATFORMS`. A platform the registry does
not hold is an error (`platform_named`), never a fallback to another platform's flow: the
appliance's list (appliance.meeting_urls.BOT_PLATFORMS) is checked against this one by test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bot import google_meet, teams

if TYPE_CHECKING:
    from bot.meeting_page import MeetingPage
    from bot.probe import Probe


class Platform(Protocol):
    # The platform's name in a bot configuration (appliance.bot_config.BotConfig.platform).
    NAME: str
    # Everything the page kit looks for on the platform's pages (bot/pagekit.js resolves it).
    SELECTORS: dict[str, Any]
    # All remote audio in one stream (speakers from turns), instead of one channel per person.
    MIXED_AUDIO: bool

    def admitted(self, probe: Probe) -> bool:
        """The page shows the bot in the call (several positive signals, no lobby text)."""
        ...

    async def prejoin(self, page: MeetingPage, bot_name: str, timeout_s: float) -> None:
        """From the opened link to a clicked join button; PageError or JoinTimeout otherwise."""
        ...


PLATFORMS: dict[str, Platform] = {google_meet.NAME: google_meet, teams.NAME: teams}


class UnknownPlatform(ValueError):
    pass


def platform_named(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UnknownPlatform(f"this bot has no flow for platform {name!r} (known: {', '.join(PLATFORMS)})") from None
