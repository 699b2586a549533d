"""The console's main journeys in real Chromium against a real appliance: send a bot and follow
it live, stop it, export the transcript, play the recording, issue and revoke an API key."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import wait_until
from tests.console.conftest import (
    Console,
    WebhookReceiver,
    post_raw_segments,
    post_segments,
    sign_in,
    stream_tone,
)


@pytest.fixture
def admin_page(console: Console, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, console)
    yield page
    context.close()


def meeting_of(console: Console, key: str, meeting_id: int) -> dict:
    with console.app.client(key) as api:
        return api.get(f"/meetings/{meeting_id}").json()


def test_send_a_bot_follow_it_live_stop_and_export(console: Console, admin_page: Page) -> None:
    page = admin_page
    _, key = console.app.new_user("sender@example.com")
    page.click("nav >> text=Send a bot")
    page.fill("#meeting_url", "https://teams.live.com/meet/9361234567890?p=SecretPass1")
    expect(page.locator('#parsed dd[data-field="platform"]')).to_have_text("Microsoft Teams")
    expect(page.locator('#parsed dd[data-field="native_meeting_id"]')).to_have_text("9361234567890")
    expect(page.locator('#parsed dd[data-field="passcode"]')).to_have_text("SecretPass1")
    page.fill("#meeting_url", "https://example.com/not-a-meeting")
    expect(page.locator("#parsed")).to_contain_text("example.com")
    page.fill("#meeting_url", "https://meet.google.com/liv-etra-nsc")
    expect(page.locator('#parsed dd[data-field="platform"]')).to_have_text("Google Meet")
    page.select_option("#user_id", label="sender@example.com")
    page.fill("#bot_name", "Console Bot")
    page.click("#send-button")

    page.wait_for_url(f"{console.url}/meetings/*")
    meeting_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator(".flash")).to_contain_text("Bot sent to Google Meet meeting liv-etra-nsc")
    expect(page.locator("#status-badge")).to_contain_text("joining", timeout=20_000)
    expect(page.locator("#live-state")).to_have_text("Live")

    meeting = meeting_of(console, key, meeting_id)
    post_segments(console.app, meeting, "Alice", ["Good morning everyone.", "Let us review the budget."])
    post_segments(console.app, meeting, "Bob", ["The numbers look fine to me."], first=2)
    transcript = page.locator("#transcript")
    expect(transcript.locator(".segment")).to_have_count(3)
    expect(transcript).to_contain_text("The numbers look fine to me.")
    colours = transcript.locator(".speaker").evaluate_all("els => els.map(e => getComputedStyle(e).color)")
    assert colours[0] == colours[1] != colours[2], "each speaker has a colour of their own"

    # A partial segment is updated in place; one that started earlier goes where it belongs.
    partial = {"segment_id": "p1", "start": 3.0, "end": 3.5, "text": "The num", "completed": False, "language": "en"}
    post_raw_segments(console.app, meeting, "Bob", [partial])
    expect(transcript.locator(".segment.partial")).to_have_text(re.compile("The num"))
    completed = {**partial, "end": 3.9, "text": "The numbers add up.", "completed": True}
    post_raw_segments(console.app, meeting, "Bob", [completed])
    expect(transcript.locator(".segment.partial")).to_have_count(0)
    expect(transcript.locator(".segment")).to_have_count(4)
    assert transcript.locator(".segment .text").all_text_contents()[2:] == [
        "The numbers add up.", "The numbers look fine to me."], "ordered by start time"

    # Scrolled up, the reader keeps their place while new text arrives.
    post_segments(console.app, meeting, "Alice", [f"Point number {i} of the agenda." for i in range(30)], first=3)
    expect(transcript.locator(".segment")).to_have_count(34)
    transcript.evaluate(
        "box => { box.style.scrollBehavior = 'auto'; box.scrollTop = 0; box.dispatchEvent(new Event('scroll')); }"
    )
    expect(page.locator("#jump-live")).to_be_visible()
    post_segments(console.app, meeting, "Bob", ["One more thing."], first=33)
    expect(transcript).to_contain_text("One more thing.")
    assert transcript.evaluate("box => box.scrollTop") == 0
    page.click("#jump-live")
    expect(page.locator("#jump-live")).to_be_hidden()

    # Text is text: markup said in a meeting is shown, never interpreted (live and on reload).
    post_raw_segments(console.app, meeting, "Eve", [{"segment_id": "x1", "start": 100.0, "end": 101.0,
                      "text": "</script><b id=injected>bold</b>", "completed": True, "language": "en"}])
    expect(transcript).to_contain_text("</script><b id=injected>bold</b>")
    page.reload()
    expect(transcript).to_contain_text("</script><b id=injected>bold</b>")
    assert page.locator("#injected").count() == 0

    page.click("#stop-form button")
    expect(page.locator(".flash")).to_contain_text("Stop requested")
    expect(page.locator("#status-badge")).to_contain_text("completed", timeout=45_000)
    expect(page.locator("#timeline")).to_contain_text("stopped")

    page.click("summary:has-text('Export')")
    with page.expect_download() as download:
        page.click(".menu-items >> text=SRT")
    srt = download.value.path().read_text()
    assert "Let us review the budget." in srt and "-->" in srt
    page.click("summary:has-text('Export')")
    with page.expect_download() as download:
        page.click(".menu-items >> text=TXT")
    assert "Good morning everyone." in download.value.path().read_text()

    page.click("button:has-text('Share link')")
    shared = page.locator("#share-url").text_content()
    assert shared and "Good morning everyone." in httpx.get(shared.strip()).text

    page.goto(f"{console.url}/meetings?q=budget")
    expect(page.locator("#meeting-list")).to_contain_text("Let us review the budget.")
    page.goto(f"{console.url}/meetings?q=nobody+said+this")
    expect(page.locator("main")).to_contain_text("No meeting matches these filters.")

    page.goto(f"{console.url}/meetings/{meeting_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    expect(page.locator(".flash")).to_contain_text("transcript and recordings were deleted")
    with console.app.client(key) as api:
        assert api.get(f"/transcripts/google_meet/liv-etra-nsc?meeting_id={meeting_id}").json()["segments"] == []


def test_play_the_recording_from_a_segment(console: Console, admin_page: Page) -> None:
    _, key = console.app.new_user("recorder@example.com")
    with console.app.client(key) as api:
        meeting = api.post("/bots", json={"meeting_url": "https://meet.google.com/rec-play-bak",
                                          "recording_enabled": True}).json()
        wait_until(lambda: api.get(f"/meetings/{meeting['id']}").json()["bot_container_id"], 20, what="the bot")
        meeting = api.get(f"/meetings/{meeting['id']}").json()
        stream_tone(console.app, meeting, 6.0)
        post_segments(console.app, meeting, "Carol", ["First words.", "Second words.", "Third words."])
        api.delete("/bots/google_meet/rec-play-bak")
        wait_until(lambda: [r for r in api.get("/recordings").json()["recordings"] if r["status"] == "completed"],
                   60, what="the recording")
    page = admin_page
    page.goto(f"{console.url}/meetings/{meeting['id']}")
    player = page.locator("#player")
    expect(player).to_be_visible()
    wait_until(lambda: player.evaluate("a => a.readyState") >= 1, 20, what="the audio to load")
    assert player.evaluate("a => a.duration") == pytest.approx(6.0, abs=0.2)
    page.locator(".segment", has_text="Third words.").click()
    wait_until(lambda: player.evaluate("a => a.currentTime") >= 4.0, 10, what="the player to seek to 4 s")
    player.evaluate("a => a.pause()")
    page.keyboard.press("Tab")  # segments are buttons: reachable and usable from the keyboard


def test_issue_and_revoke_an_api_key(console: Console, admin_page: Page) -> None:
    page = admin_page
    page.click("nav >> text=Users & keys")
    page.fill("#email", "keyholder@example.com")
    page.fill("#name", "Key Holder")
    page.fill("#max_concurrent_bots", "2")
    page.click("button:has-text('Create user')")
    expect(page.locator("h1")).to_have_text("keyholder@example.com")
    page.click("button:has-text('Issue a key')")
    key = (page.locator("#new-key").text_content() or "").strip()
    assert key.startswith("vmt_")
    with console.app.client(key) as api:
        assert api.get("/meetings").status_code == 200
    page.reload()  # the key is never shown again
    expect(page.locator("#new-key")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#key-list button:has-text('Revoke')")
    expect(page.locator(".flash")).to_contain_text("revoked")
    expect(page.locator("#key-list")).to_have_count(0)
    with console.app.client(key) as api:
        assert api.get("/meetings").status_code == 401


def test_webhook_settings_and_retry_of_a_failed_delivery(console: Console, admin_page: Page) -> None:
    receiver = WebhookReceiver(410)  # 410 is final: the delivery fails at once
    try:
        user_id, key = console.app.new_user("hooks@example.com")
        page = admin_page
        page.goto(f"{console.url}/webhooks?user_id={user_id}")
        page.fill("#webhook_url", receiver.url)
        page.check("input[value='meeting.completed']")
        page.click("#webhook-form button[type=submit]")
        expect(page.locator(".flash")).to_have_text("Webhook settings saved.")
        with console.app.client(key) as api:
            api.post("/bots", json={"meeting_url": "https://meet.google.com/hoo-kdel-ivr"})
            api.delete("/bots/google_meet/hoo-kdel-ivr")
        wait_until(lambda: receiver.received, 60, what="the first delivery")
        retry = page.locator("#delivery-log button:has-text('Retry')")
        wait_until(lambda: page.reload() and retry.count() == 1, 30, what="the delivery to be failed")
        expect(page.locator("#delivery-log")).to_contain_text("HTTP 410")
        retry.click()
        expect(page.locator(".flash")).to_contain_text("queued again")
        wait_until(lambda: len(receiver.received) == 2, 30, what="the redelivery")
        assert receiver.received[0]["event_id"] == receiver.received[1]["event_id"]
        assert receiver.received[0]["event_type"] == "meeting.completed"
    finally:
        receiver.close()


def test_keyboard_only(console: Console, admin_page: Page) -> None:
    page = admin_page
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Skip to content")
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Vomeet")
    page.goto(f"{console.url}/signin")  # signed in already: straight on to the console
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.focus("text=Dark")
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark", "the choice is remembered"
    for _ in range(4):  # skip link, logo, Dashboard, Send a bot
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Send a bot")
    page.evaluate("localStorage.clear()")


def test_system_page_restarts_a_process_and_backs_up_the_database(
    console: Console, admin_page: Page, tmp_path: Path
) -> None:
    page = admin_page
    page.goto(f"{console.url}/admin/system")
    worker = page.locator("#children tr", has_text="worker")
    expect(worker).to_contain_text("running")
    pid = worker.locator("td[data-label=PID]").text_content()
    page.once("dialog", lambda dialog: dialog.accept())
    worker.locator("button:has-text('Restart')").click()
    expect(page.locator(".flash")).to_have_text("worker is restarting.")
    wait_until(lambda: page.reload() and "running" in (worker.text_content() or "")
               and worker.locator("td[data-label=PID]").text_content() != pid, 30, what="a new worker")
    expect(worker.locator("td[data-label=Restarts]")).to_have_text("1")
    expect(page.locator("#log-tail")).to_contain_text("huey")

    with page.expect_download() as download:
        page.click("text=Download database backup")
    copy = tmp_path / "backup.db"
    download.value.save_as(copy)
    with sqlite3.connect(copy) as backup:
        assert backup.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # The same administrators as the live database (other tests of this package's shared
        # console may have added some, so not a fixed count).
        with sqlite3.connect(console.app.data_dir / "vomeet.db") as live:
            expected = live.execute("SELECT username FROM console_admins ORDER BY id").fetchall()
        assert backup.execute("SELECT username FROM console_admins ORDER BY id").fetchall() == expected
        assert ("admin",) in expected
