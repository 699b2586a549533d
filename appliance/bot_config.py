"""What a meeting bot is told: one typed document, built by the appliance, parsed by the bot.

The appliance builds a `BotConfig` once per launch (appliance/meetings/service.py, from the
request and the settings, whose defaults live in appliance/config.py), hands it to the bot
runtime, which serialises it as one JSON document in the `VOMEET_BOT_CONFIG` environment
variable; the bot parses it back with `BotConfig.model_validate_json`. Every field is required,
so the bot restates no default. The document holds no secret: the bot's token travels beside it
in `VOMEET_BOT_TOKEN` (a k3s Job takes it from a Secret, the config from its spec).

A leaf module: it imports pydantic only, so the bot imports it without the appliance's API,
database or settings (tests/unit/test_layers.py checks this).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

CONFIG_ENV = "VOMEET_BOT_CONFIG"
TOKEN_ENV = "VOMEET_BOT_TOKEN"
DEFAULT_BOT_NAME = "Vomeet Notetaker"

Task = Literal["transcribe", "translate"]


class _Strict(BaseModel):
    # A misspelt or unknown field is an error naming it, not a silently ignored key.
    model_config = ConfigDict(frozen=True, extra="forbid")


class AutomaticLeave(_Strict):
    """When the bot leaves on its own, each timeout in seconds."""

    waiting_room_timeout_s: PositiveInt
    nobody_joined_timeout_s: PositiveInt
    left_alone_timeout_s: PositiveInt
    max_duration_s: PositiveInt


# The requester's choices (or the defaults they got): stored with the meeting, as
# `scheduled_meetings.options` and in `meetings.data`, where the API shows them.
OPTION_FIELDS = frozenset(
    {"bot_name", "language", "task", "recording_enabled", "transcribe_enabled", "automatic_leave"}
)


class BotConfig(_Strict):
    meeting_id: PositiveInt
    # A platform the bot has a flow for (bot/platform.py's PLATFORMS); it refuses any other.
    platform: str
    meeting_url: str = Field(min_length=1)
    bot_name: str = Field(min_length=1)
    language: str | None  # None: the ASR detects it
    task: Task
    transcribe_enabled: bool
    recording_enabled: bool
    automatic_leave: AutomaticLeave
    join_timeout_s: float = Field(gt=0)  # to open the meeting page, and for each pre-join step
    chromium_path: str | None  # None: the bot finds Chromium (appliance/browser.py)
    appliance_url: str = Field(min_length=1)  # the API: reports, commands, recording audio
    asr_url: str = Field(min_length=1)  # the streaming ASR server (WhisperLive protocol)

    def options(self) -> dict[str, Any]:
        """The part stored with the meeting (JSON types)."""
        return self.model_dump(mode="json", include=set(OPTION_FIELDS))


def explain(error: ValidationError) -> str:
    """Each wrong field named by its path (`automatic_leave.max_duration_s: ...`), on one line."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(the document)"
        got = f" (got {item['input']!r:.80})" if item["type"] not in ("missing", "json_invalid") else ""
        problems.append(f"{where}: {item['msg']}{got}")
    return "; ".join(problems)
