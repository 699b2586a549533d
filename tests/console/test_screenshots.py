"""Screenshots of every console page, desktop and phone, light and dark.

They go to a temporary folder, or to the folder named by CONSOLE_SCREENSHOTS_DIR; the ones in
docs/console/ were made with `CONSOLE_SCREENSHOTS_DIR=docs/console pytest tests/console/test_screenshots.py`
(a plain test run leaves the repository's files alone). On the way, every page is checked: no
sideways scrolling on a phone, no failed request, one h1, no control without a name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Response

from tests.conftest import wait_until
from tests.console.conftest import (
    Console,
    WebhookReceiver,
    post_segments,
    sign_in,
    stream_tone,
)

REPO = Path(__file__).resolve().parents[2]
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
CONVERSATION = [
    ("Dana", "Thanks for joining. Today we look at the rollout plan for the new appliance."),
    ("Emil", "The pilot sites are ready; two of them still need network changes."),
    ("Dana", "Which two, and when can the changes be made?"),
    ("Fatima", "Lyon and Porto. Both teams promised Thursday."),
    ("Emil", "Then we can start the pilot on Monday and collect feedback for two weeks."),
    ("Dana", "Good. Let us write that down as the decision."),
]

# Form controls and buttons that a screen reader could not name.
UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
  .map(e => e.outerHTML)"""


@pytest.fixture(scope="module")
def showcase(console: Console) -> Iterator[dict[str, int]]:
    """Content worth looking at: a live meeting with a conversation, finished ones, webhooks."""
    receiver = WebhookReceiver(404)
    user_id, key = console.app.new_user("dana@example.com")
    with console.app.admin() as admin:
        admin.patch(f"/admin/users/{user_id}", json={"name": "Dana Weber", "max_concurrent_bots": 3})
    with console.app.client(key) as api:
        api.put("/user/webhook", json={"webhook_url": receiver.url, "webhook_secret": "s3cret-s3cret",
                                       "webhook_events": ["meeting.completed", "bot.failed"]})
        later = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0).isoformat()
        api.post("/bots", json={"meeting_url": "https://meet.google.com/pla-nnin-gmt", "join_at": later})
        api.post("/bots", json={"meeting_url": "https://meet.google.com/wee-kly-syn"})
        api.delete("/bots/google_meet/wee-kly-syn")
        recorded = api.post("/bots", json={"meeting_url": "https://meet.google.com/des-ign-rev",
                                           "recording_enabled": True}).json()
        api.patch("/meetings/google_meet/des-ign-rev", json={"data": {"name": "Design review"}})
        wait_until(lambda: api.get(f"/meetings/{recorded['id']}").json()["bot_container_id"], 20, what="the bot")
        recorded = api.get(f"/meetings/{recorded['id']}").json()
        stream_tone(console.app, recorded, 12.0)
        for index, (speaker, text) in enumerate(CONVERSATION[:4]):
            post_segments(console.app, recorded, speaker, [text], first=index)
        api.delete("/bots/google_meet/des-ign-rev")
        meeting = api.post(
            "/bots", json={"meeting_url": "https://meet.google.com/rol-lout-pln", "bot_name": "Notetaker"}
        ).json()
        api.patch("/meetings/google_meet/rol-lout-pln", json={"data": {"name": "Rollout planning"}})
        wait_until(lambda: api.get(f"/meetings/{meeting['id']}").json()["bot_container_id"], 20, what="the bot")
        meeting = api.get(f"/meetings/{meeting['id']}").json()
        for index, (speaker, text) in enumerate(CONVERSATION):
            post_segments(console.app, meeting, speaker, [text], first=index)
        wait_until(lambda: len(receiver.received) >= 2, 60, what="two webhook deliveries")
        wait_until(lambda: [r for r in api.get("/recordings").json()["recordings"] if r["status"] == "completed"],
                   60, what="the recording")
    receiver.close()
    yield {"user_id": user_id, "meeting_id": meeting["id"], "recorded_id": recorded["id"]}


def test_screenshots_of_every_page(
    console: Console, browser: Browser, showcase: dict[str, int], tmp_path: Path
) -> None:
    chosen = os.environ.get("CONSOLE_SCREENSHOTS_DIR")
    shots = REPO / chosen if chosen else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    pages = {
        "dashboard": "", "send": "/send", "meetings": "/meetings",
        "meeting": f"/meetings/{showcase['meeting_id']}",
        "meeting-recorded": f"/meetings/{showcase['recorded_id']}", "users": "/admin/users",
        "user": f"/admin/users/{showcase['user_id']}", "webhooks": f"/webhooks?user_id={showcase['user_id']}",
        "system": "/admin/system", "account": "/account",
        "calendars": f"/calendars?user_id={showcase['user_id']}",
        "upcoming": f"/upcoming?user_id={showcase['user_id']}",
    }
    for device, viewport in VIEWPORTS.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport=viewport, color_scheme=scheme,  # type: ignore[arg-type]
                                          device_scale_factor=1, is_mobile=device == "phone")
            page = context.new_page()
            failed: list[str] = []

            def note_failed(response: Response, failed: list[str] = failed) -> None:
                if response.status >= 400:
                    failed.append(response.url)

            page.on("response", note_failed)
            page.goto(f"{console.url}/signin")
            page.screenshot(path=shots / f"signin-{device}-{scheme}.png", full_page=True)
            sign_in(page, console)
            for name, path in pages.items():
                page.goto(console.url + path)
                if name == "send":
                    page.fill("#meeting_url", "https://teams.live.com/meet/9361234567890?p=SecretPass1")
                    page.locator('#parsed dd[data-field="platform"]').wait_for()
                if name == "meeting":
                    page.locator(".segment").last.wait_for()
                    page.locator("#live-state", has_text="Live").wait_for()
                if name == "meeting-recorded":
                    page.wait_for_function("document.getElementById('player').readyState >= 1")
                if device == "desktop" and scheme == "light":
                    assert page.evaluate(UNLABELLED) == [], f"{name}: controls without a label"
                    assert page.locator("h1").count() == 1, f"{name}: one h1 per page"
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"{name} scrolls sideways by {overflow}px on {device}"
                page.screenshot(path=shots / f"{name}-{device}-{scheme}.png", full_page=True)
            assert not failed, f"requests that failed: {failed}"
            context.close()
    assert len(list(shots.glob("*.png"))) >= 44
    assert httpx.get(f"{console.url}/static/console.css").status_code == 200
