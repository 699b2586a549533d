"""A real appliance for the console tests, signed-in HTTP clients and a real Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Appliance, HangingMeetingHost, appliance_env, free_port

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

    def signed_in(self, *, api_key: str | None = None) -> httpx.Client:
        """An HTTP client with a console session: the administrator, or a user by API key."""
        client = httpx.Client(base_url=self.app.base_url, timeout=30)
        page = client.get("/ui/signin")
        fields = {"csrf_token": csrf_of(page.text)}
        if api_key is None:
            fields.update(kind="admin", username="admin", password=self.password)
        else:
            fields.update(kind="key", api_key=api_key)
        answer = client.post("/ui/signin", data=fields)
        assert answer.status_code == 303, answer.text
        return client


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
    started = start_console(tmp_path_factory.mktemp("console") / "data", hanging_host)
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
