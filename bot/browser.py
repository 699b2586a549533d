"""Chromium for audio-only meeting work: headless, lean, no background chatter."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Playwright

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
    "--use-fake-device-for-media-stream",  # a silent fake microphone and camera for the pre-join
    "--autoplay-policy=no-user-gesture-required",
    # Fewer processes: each helper process costs 10-40 MB (docs/bot.md has the measurements).
    "--no-zygote",
    "--in-process-gpu",
    "--renderer-process-limit=1",
    (
        "--disable-features=AudioServiceOutOfProcess,Translate,MediaRouter,OptimizationHints,"
        "InterestFeedContentSuggestions,CalculateNativeWinOcclusion,HeavyAdPrivacyMitigations"
    ),
    "--enable-features=NetworkServiceInProcess",
    "--disable-renderer-backgrounding",  # an unattended page must not be throttled
    "--disable-background-timer-throttling",
]


async def launch(playwright: Playwright, executable: Path | None) -> Browser:
    return await playwright.chromium.launch(
        executable_path=str(executable) if executable else None, headless=True, args=LEAN_ARGS
    )


async def new_context(chromium: Browser) -> BrowserContext:
    """Microphone and camera granted (pages check before offering to join); small viewport."""
    return await chromium.new_context(
        permissions=["microphone", "camera"],
        viewport={"width": 1024, "height": 640},
        bypass_csp=True,  # the capture's AudioWorklet module is loaded from a blob: URL
        # Headless Chromium announces itself as "HeadlessChrome", which meeting sites turn away.
        user_agent=(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chromium.version} Safari/537.36"
        ),
    )
