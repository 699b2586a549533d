"""What a user asks of a bot, in the domain's own terms: the API builds it from its wire model
(api.schemas.BotRequest.order), and the calendar sweep of a later issue will build it from an event,
so the meeting domain imports no wire schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from appliance.meeting_urls import Platform


@dataclass(frozen=True)
class BotOrder:
    """A request for a bot; None means "not given" (the settings' defaults fill it)."""

    platform: Platform | None = None
    native_meeting_id: str | None = None
    meeting_url: str | None = None
    passcode: str | None = None
    bot_name: str | None = None
    language: str | None = None
    task: str | None = None
    recording_enabled: bool | None = None
    transcribe_enabled: bool | None = None
    # Only the automatic-leave timeouts given, by their BotConfig names (`waiting_room_timeout_s`, ...).
    automatic_leave: Mapping[str, int] = field(default_factory=dict)
