"""A real appliance for the console tests, signed-in HTTP clients and a real Chromium."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    Appliance,
    HangingMeetingHost,
    appliance_env,
    bot_token_of,
    free_port,
)

PASSWORD = re.compile(r"user admin, password (\S+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class Console:
    app: Appliance
    password: str

    @property
    def url(self) -> str:
        return f"{self.app.base_url}/ui"

    @contextmanager
    def signed_in(
        self, *, api_key: str | None = None, username: str = "admin", password: str | None = None
    ) -> Iterator[httpx.Client]:
        """An HTTP client with a console session: an administrator, or a user by API key."""
        with httpx.Client(base_url=self.app.base_url, timeout=30) as client:
            page = client.get("/ui/signin")
            fields = {"csrf_token": csrf_of(page.text)}
            if api_key is None:
                fields.update(kind="admin", username=username, password=password or self.password)
            else:
                fields.update(kind="key", api_key=api_key)
            answer = client.post("/ui/signin", data=fields)
            assert answer.status_code == 303, answer.text
            yield client


class WebhookReceiver:
    """A real HTTP server on loopback that answers every webhook with one fixed status."""

    def __init__(self, status_code: int) -> None:
        outer = self
        self.received: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append(json.loads(body))
                self.send_response(status_code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def start_console(data_dir: Path, hanging_host: HangingMeetingHost, **settings: str) -> Console:
    port = free_port()
    env = appliance_env(
        data_dir, port, google_meet_base_url=hanging_host.base_url,
        teams_base_url=hanging_host.base_url, zoom_base_url=hanging_host.base_url, **settings,
    )
    app = Appliance(data_dir, env, port).start()
    printed = PASSWORD.search(app.log_path.read_text(errors="replace"))
    assert printed, f"vomeet serve printed no console password ({app.log_path})"
    return Console(app, printed.group(1))


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory, hanging_host: HangingMeetingHost) -> Iterator[Console]:
    """One appliance shared by the console tests (a test that locks sign-in starts its own)."""
    # Webhooks may go to loopback here: the tests' receiver runs on this machine.
    started = start_console(tmp_path_factory.mktemp("console") / "data", hanging_host,
                            webhook_allow_internal_targets="true")
    yield started
    if started.app.process and started.app.process.poll() is None:
        started.app.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(page: object, console: Console, *, api_key: str | None = None) -> None:
    """Sign in through the real form, as a person would."""
    page.goto(f"{console.url}/signin")  # type: ignore[attr-defined]
    if api_key is None:
        page.fill("#username", "admin")  # type: ignore[attr-defined]
        page.fill("#password", console.password)  # type: ignore[attr-defined]
        page.click("#panel-admin button[type=submit]")  # type: ignore[attr-defined]
    else:
        page.click("#tab-key")  # type: ignore[attr-defined]
        page.fill("#api_key", api_key)  # type: ignore[attr-defined]
        page.click("#panel-key button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{console.url}")  # type: ignore[attr-defined]


def post_segments(app: Appliance, meeting: dict, speaker: str, texts: list[str], first: int = 0) -> None:
    """Deliver completed transcript segments as the meeting's bot does, 2 s apart."""
    post_raw_segments(app, meeting, speaker, [
        {"segment_id": f"s{first + i}", "start": 2.0 * (first + i), "end": 2.0 * (first + i) + 1.8,
         "text": text, "completed": True, "language": "en"}
        for i, text in enumerate(texts)
    ])


def post_raw_segments(app: Appliance, meeting: dict, speaker: str, segments: list[dict]) -> None:
    body = {"stream": {"uid": f"uid-{speaker}", "speaker": speaker, "started_at": time.time() - 60},
            "segments": segments}
    answer = httpx.post(f"{app.base_url}/internal/bot/segments", json=body, timeout=30,
                        headers={"Authorization": f"Bearer {bot_token_of(meeting)}"})
    assert answer.status_code == 200, answer.text


def stream_tone(app: Appliance, meeting: dict, seconds: float) -> None:
    """Send audio to the recording WebSocket as a bot does: 100 ms float32 frames at 16 kHz."""
    import numpy as np
    from websockets.sync.client import connect

    t = np.arange(int(seconds * 16000)) / 16000
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype("<f4")
    headers = {"Authorization": f"Bearer {bot_token_of(meeting)}"}
    with connect(f"ws://127.0.0.1:{app.port}/internal/bot/audio", additional_headers=headers) as ws:
        for start in range(0, samples.size, 1600):
            ws.send(samples[start : start + 1600].tobytes())
