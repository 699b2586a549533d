"""The page kit hands pages a microphone without Chromium's voice processing (the bot never
speaks, and a muted but live track would otherwise be processed 100 times a second). Real
Chromium, the bot's own launch options and init script; no meeting needed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import async_playwright

from appliance.browser import find_chromium
from bot import browser
from bot.google_meet import SELECTORS
from bot.meeting_page import init_script

pytestmark = pytest.mark.slow

# What a page sees of the track it asked for: the processing switches and what it had asked for.
SETTINGS_JS = """async (constraints) => {
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia(constraints); }
  catch (e) { return { error: e.name, constraint: e.constraint }; }
  const track = stream.getAudioTracks()[0];
  const s = track.getSettings();
  const result = { live: track.readyState, echo: s.echoCancellation, noise: s.noiseSuppression,
                   gain: s.autoGainControl, channels: s.channelCount, video: stream.getVideoTracks().length };
  stream.getTracks().forEach((t) => t.stop());
  return result;
}"""


async def microphone_settings(with_kit: bool, constraints: dict[str, Any]) -> dict[str, Any]:
    return await page_value(with_kit, SETTINGS_JS, constraints)


async def page_value(with_kit: bool, script: str, argument: Any = None) -> Any:
    """`script` evaluated in a fresh page of the bot's browser, with or without the kit."""
    async with async_playwright() as playwright:
        chromium = await browser.launch(playwright, find_chromium())
        try:
            context = await browser.new_context(chromium)
            if with_kit:
                await context.add_init_script(init_script(SELECTORS))
            page = await context.new_page()
            await page.goto("file:///")  # a secure context, as getUserMedia requires
            return await page.evaluate(script, argument)
        finally:
            await chromium.close()


def test_pages_get_a_live_microphone_without_voice_processing() -> None:
    settings = asyncio.run(microphone_settings(True, {"audio": True, "video": True}))
    del settings["channels"]  # the fake device's own (2 without processing)
    assert settings == {"live": "live", "echo": False, "noise": False, "gain": False, "video": 1}


def test_the_pages_own_audio_constraints_are_kept() -> None:
    asked = {"audio": {"deviceId": {"exact": "no-such-microphone"}, "echoCancellation": True}}
    assert asyncio.run(microphone_settings(True, asked)) == {"error": "OverconstrainedError", "constraint": "deviceId"}
    settings = asyncio.run(microphone_settings(True, {"audio": {"deviceId": "default", "echoCancellation": True}}))
    assert settings["live"] == "live" and settings["echo"] is False  # all but the processing


def test_the_wrapped_function_looks_native() -> None:
    """Pages that look at the function see the browser's own name, arity and no page source (a
    Proxy's text is "function () { [native code] }", without the name, as for RTCPeerConnection)."""
    looks = asyncio.run(page_value(True, """() => [navigator.mediaDevices.getUserMedia.name,
        navigator.mediaDevices.getUserMedia.length,
        Function.prototype.toString.call(navigator.mediaDevices.getUserMedia).includes("[native code]"),
        Object.getOwnPropertyNames(navigator.mediaDevices).length]"""))
    assert looks == ["getUserMedia", 0, True, 0]


def test_without_the_kit_chromium_processes_the_microphone() -> None:
    """The control: the switches above are the kit's doing, not Chromium's defaults."""
    settings = asyncio.run(microphone_settings(False, {"audio": True}))
    assert settings["echo"] is True and settings["noise"] is True and settings["gain"] is True
