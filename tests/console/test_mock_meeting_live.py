"""From the console into a (mock) meeting and back: a person sends a bot with a pasted link, the
bot joins over real WebRTC, two participants speak, and their words appear live on the meeting
page under their names — real Chromium on both sides, the real ASR server and model."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import wait_until
from tests.console.conftest import PASSWORD, Console, sign_in
from tests.mock_meetings.fixtures import appliance_with_asr, mock_control, mock_meetings  # noqa: F401 (fixtures)
from tests.mock_meetings.server import MockMeetingServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]
CODE = "con-sole-mck"
TURNS = (
    ("Alice", "Good morning everyone. Let's start with the quarterly budget review."),
    ("Bob", "We hired three new engineers, and two more will join next month."),
)


@pytest.fixture
def live_console(tmp_path_factory: pytest.TempPathFactory, mock_meetings: MockMeetingServer) -> Iterator[Console]:  # noqa: F811
    app = appliance_with_asr(tmp_path_factory.mktemp("console-live") / "data", mock_meetings)
    try:
        printed = PASSWORD.search(app.log_path.read_text(errors="replace"))
        assert printed, "vomeet serve printed no console password"
        yield Console(app, printed.group(1))
    finally:
        if app.process and app.process.poll() is None:
            app.stop()


def test_send_a_bot_to_a_meeting_and_watch_what_is_said(
    live_console: Console, browser: Browser, mock_control: httpx.Client  # noqa: F811
) -> None:
    created = mock_control.post("/control/meetings", json={
        "id": CODE, "platform": "meet", "variant": "join-now", "participants": ["Alice", "Bob"]})
    assert created.status_code == 201, created.text
    _, key = live_console.app.new_user("live@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_console)
        page.click("nav >> text=Send a bot")
        page.fill("#meeting_url", f"https://meet.google.com/{CODE}")
        expect(page.locator('#parsed dd[data-field="native_meeting_id"]')).to_have_text(CODE)
        page.select_option("#user_id", label="live@example.com")
        page.fill("#language", "en")
        page.click("#send-button")
        page.wait_for_url(f"{live_console.url}/meetings/*")
        expect(page.locator("#status-badge")).to_contain_text("active", timeout=90_000)

        for name, text in TURNS:
            said = {"participant": name, "text": text}
            event = mock_control.post(f"/control/meetings/{CODE}/speak", json=said).json()
            wait_until(
                lambda seq=event["seq"]: any(
                    e["seq"] == seq and e["played"]
                    for e in mock_control.get(f"/control/meetings/{CODE}").json()["speech"]
                ),
                event["duration_s"] + 20, 0.2, f"{name}'s turn to be played",
            )
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text("budget", timeout=60_000)
        expect(transcript).to_contain_text("engineers", timeout=60_000)
        speakers = set(transcript.locator(".speaker").all_text_contents())
        assert speakers == {"Alice", "Bob"}, speakers

        page.click("#stop-form button")
        expect(page.locator("#status-badge")).to_contain_text("completed", timeout=60_000)
    finally:
        context.close()
        with live_console.app.client(key) as api:
            api.delete(f"/bots/google_meet/{CODE}")
