"""One list of platforms a bot can join, and no silent fallback (issue: a Zoom link got 201 and the
bot ran the Google Meet flow on it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.bot_config import BotConfig
from appliance.meeting_urls import BOT_PLATFORMS
from bot.appliance_link import ApplianceLink
from bot.platform import PLATFORMS, UnknownPlatform
from bot.session import BotSession
from tests.unit.test_bot_config import sample


def test_the_appliance_and_the_bot_agree_on_the_platforms() -> None:
    assert set(BOT_PLATFORMS) == set(PLATFORMS)


@pytest.mark.parametrize("platform", ["zoom", "", "webex"])
def test_a_bot_for_an_unknown_platform_refuses_to_start(platform: str, tmp_path: Path) -> None:
    config = BotConfig.model_validate({**sample(tmp_path).model_dump(), "platform": platform})
    with pytest.raises(UnknownPlatform, match="no flow for platform"):
        BotSession(config, ApplianceLink("http://127.0.0.1:9", "vmb_x"))
