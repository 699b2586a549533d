"""Chromium for audio-only meeting work: headless, lean, no background chatter."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Playwright

LEAN_ARGS = [
    "--no-sandbox",  # the bot runs as an unprivileged service user inside its own session
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-quic",
    "--no-first-run",
    "--mute-audio",
    "--use-fake-ui-for-media-stream",  # grant mic/camera prompts without a person
    "--autoplay-policy=no-user-gesture-required",
]


async def launch(playwright: Playwright, executable: Path | None) -> Browser:
    return await playwright.chromium.launch(
        executable_path=str(executable) if executable else None, headless=True, args=LEAN_ARGS
    )
