"""One list of platforms a bot can join, and no silent fallback (issue: a Zoom link got 201 and the
bot ran the Google Meet flow on it)."""

from __future__ import annotations

import pytest

from appliance.meeting_urls import BOT_PLATFORMS
from bot.appliance_link import ApplianceLink
from bot.main import PLATFORMS, Bot, UnknownPlatform


def test_the_appliance_and_the_bot_agree_on_the_platforms() -> None:
    assert set(BOT_PLATFORMS) == set(PLATFORMS)


@pytest.mark.parametrize("platform", ["zoom", "", "webex"])
def test_a_bot_for_an_unknown_platform_refuses_to_start(platform: str) -> None:
    with pytest.raises(UnknownPlatform, match="no flow for platform"):
        Bot({"platform": platform, "meeting_id": 1}, ApplianceLink("http://127.0.0.1:9", "vmb_x"))
