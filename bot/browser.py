"""Chromium for audio-only meeting work: headless, lean, no background chatter."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from appliance.process_command import external_env, use_external_env

log = logging.getLogger("vomeet.bot")

# The same flags for the headless shell and for full Chromium (the fallback). Switches and
# features of Chrome's browser layer (sync, extensions, component updates, first run,
# Translate, MediaRouter...) do not exist in the shell, which ignores them; they are kept for
# full Chromium. Note: Chromium keeps only the last --disable-features/--enable-features, so
# these lists replace Playwright's own.
LEAN_ARGS = [
    "--no-sandbox",  # the bot runs as an unprivileged service user inside its own session
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",  # full Chromium only
    "--disable-quic",
    "--no-first-run",  # full Chromium only
    "--mute-audio",
    "--use-fake-ui-for-media-stream",  # grant mic/camera prompts without a person
    "--use-fake-device-for-media-stream",  # a silent fake microphone and camera for the pre-join
    "--autoplay-policy=no-user-gesture-required",
    # Fewer processes: each helper process costs 10-40 MB (docs/bot.md has the measurements).
    "--no-zygote",
    "--in-process-gpu",
    "--renderer-process-limit=1",
    # The network service in the browser process (-1 process, ~30 MB). "NetworkServiceInProcess"
    # was renamed; Chromium ignores unknown feature names, so the old spelling did nothing.
    "--enable-features=NetworkServiceInProcess2",
    # V8 favours memory over speed in the page: ~10-25 MB less in the renderer, no CPU seen.
    "--js-flags=--optimize-for-size",
    "--disable-renderer-backgrounding",  # an unattended page must not be throttled
    "--disable-background-timer-throttling",
    *(  # The bot talks to the meeting's host only (docs/egress.md, tests/egress prove it).
        # Debian's chromium ships Google API keys, so its Google services would otherwise start.
        "--disable-background-networking",  # variations seed, Safe Browsing lists, GCM, NTP...
        "--disable-component-update",  # component updater (update.googleapis.com)
        "--disable-sync",
        "--disable-default-apps",
        "--disable-domain-reliability",  # error beacons to Google
        "--disable-client-side-phishing-detection",  # Safe Browsing's model downloads
        "--safebrowsing-disable-auto-update",
        "--disable-field-trial-config",  # no field-trial (variations) configuration
        "--metrics-recording-only",  # UMA kept in memory, never uploaded
        "--disable-breakpad",  # no crash uploads
        "--no-pings",  # hyperlink-auditing pings
        "--no-default-browser-check",
        "--no-service-autorun",
        "--password-store=basic",  # no keyring daemon over D-Bus
        "--dns-prefetch-disable",
        # One list for all (Chromium keeps only the last --disable-features): the bot's own
        # (AudioServiceOutOfProcess: one process fewer) and every service that phones out:
        # translate, media router discovery (mDNS/SSDP multicast on the LAN), optimisation
        # hints and models, DNS-over-HTTPS and its probes, network time (clients2.google.com),
        # certificate-transparency and other component lists, autofill's server, sign-in,
        # push messaging, and WebRTC's mDNS names for the page's own candidates.
        "--disable-features=" + ",".join([
            "AudioServiceOutOfProcess", "CalculateNativeWinOcclusion", "HeavyAdPrivacyMitigations",
            "InterestFeedContentSuggestions", "Translate", "MediaRouter", "DialMediaRouteProvider",
            "CastMediaRouteProvider", "GlobalMediaControls", "OptimizationHints", "OptimizationHintsFetching",
            "OptimizationGuideModelDownloading", "OptimizationHintsFetchingAnonymousDataConsent",
            "DnsOverHttps", "DnsHttpssvc", "NetworkTimeServiceQuerying", "CertificateTransparencyComponentUpdater",
            "AutofillServerCommunication", "SafeBrowsingEnhancedProtection", "NoStatePrefetch",
            "Prerender2", "PreconnectToSearch", "AccountConsistency", "PushMessaging",
            "WebRtcHideLocalIpsWithMdns", "LensOverlay", "PrivacySandboxSettings4", "SegmentationPlatform",
        ]),
    ),
]


def driver() -> AbstractAsyncContextManager[Playwright]:
    """Playwright, whose node driver starts with this process's environment made the external one
    (the driver copies os.environ, and is a system program too). For a process that runs no other
    role of vomeet afterwards: a bot, or selftest's browser check."""
    use_external_env()
    return async_playwright()


async def launch(playwright: Playwright, executable: Path | None) -> Browser:
    # Chromium is a system program: from the frozen bundle it must not load the bundle's libraries.
    return await playwright.chromium.launch(
        executable_path=str(executable) if executable else None, headless=True, args=LEAN_ARGS,
        env=dict[str, str | float | bool](external_env()),
    )


# What the browser itself would send as client hints, read once from a fresh page.
_HINTS_JS = """() => navigator.userAgentData.getHighEntropyValues(
  ["architecture", "bitness", "model", "platformVersion", "fullVersionList", "wow64", "formFactors"])"""


async def open_blank(executable: Path) -> str:
    """Open about:blank in Chromium as a bot starts it, and say what opened it (vomeet selftest's
    browser check). This process's environment becomes the external one, as a bot's does."""
    async with driver() as playwright:
        chromium = await launch(playwright, executable)
        try:
            page = await chromium.new_page()
            await page.goto("about:blank")
            return f"{executable} {chromium.version} opened about:blank"
        finally:
            await chromium.close()


async def new_page(context: BrowserContext) -> Page:
    """A page whose client hints (Sec-CH-UA headers, navigator.userAgentData) carry no
    "HeadlessChrome" brand. The headless shell adds that brand, and Playwright's user agent
    override leaves the brand list to the browser, so the page gets the browser's own metadata
    without it. Full Chromium has no such brand and is left alone."""
    page = await context.new_page()
    # Client hints exist only in secure contexts; about:blank is not one, a file: URL is (and
    # needs no network). The meeting link is opened in this page afterwards.
    await page.goto("file:///")
    hints: dict[str, Any] = await page.evaluate(_HINTS_JS)
    brands = [b for b in hints["brands"] if "headless" not in b["brand"].lower()]
    if len(brands) == len(hints["brands"]):
        return page
    metadata = {
        "brands": brands,
        "fullVersionList": [b for b in hints["fullVersionList"] if "headless" not in b["brand"].lower()],
        "platform": hints["platform"],
        "platformVersion": hints.get("platformVersion", ""),
        "architecture": hints.get("architecture", ""),
        "model": hints.get("model", ""),
        "mobile": hints["mobile"],
        "bitness": hints.get("bitness", ""),
        "wow64": hints.get("wow64", False),
    }
    user_agent = await page.evaluate("navigator.userAgent")
    # The session must stay attached: Chromium drops a session's overrides when it detaches.
    # Playwright keeps it (and so the override) until the page closes.
    cdp = await context.new_cdp_session(page)
    await cdp.send("Emulation.setUserAgentOverride", {"userAgent": user_agent, "userAgentMetadata": metadata})
    return page


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


async def bind(page: Page, name: str, callback: Callable[[Any], object]) -> None:
    """`window.<name>(json_text)` in the page (also after navigations) calls
    `callback(decoded)` in the bot. A plain CDP binding: each call is one event to the bot and
    nothing goes back to the page, about half the Node and Python CPU per call of Playwright's
    expose_function, which serializes the arguments its own way and answers every call."""
    cdp = await page.context.new_cdp_session(page)  # stays attached until the page closes

    def called(event: dict[str, Any]) -> None:
        if event.get("name") != name:
            return
        try:
            callback(json.loads(event["payload"]))
        except Exception:  # a bad block must not stop the ones after it
            log.exception("%s: could not handle a call from the page", name)

    cdp.on("Runtime.bindingCalled", called)
    # Without Runtime enabled on this session the binding would not reach pages loaded later.
    await cdp.send("Runtime.enable")
    await cdp.send("Runtime.addBinding", {"name": name})
