"""End-to-end: the real appliance launches real bots (real Chromium) into mock Meet and Teams
meetings served on loopback (tests/mock_meetings), driven through the mock's control API."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Appliance, appliance_env, free_port
from tests.mock_meetings.fixtures import mock_control, mock_meetings  # noqa: F401 (fixtures)
from tests.mock_meetings.server import MockMeetingServer
from tests.runtime.conftest import Reaper, pid_of, reaper, wait_for_status  # noqa: F401 (fixtures)

TERMINAL = {"completed", "failed"}


def meet_code() -> str:
    def letters(n: int) -> str:
        return "".join(random.choices(string.ascii_lowercase, k=n))
    return f"{letters(3)}-{letters(4)}-{letters(3)}"


def teams_id() -> str:
    return "".join(random.choices(string.digits, k=12))


@pytest.fixture(scope="session")
def meeting_appliance(
    tmp_path_factory: pytest.TempPathFactory, mock_meetings: MockMeetingServer  # noqa: F811
) -> Iterator[Appliance]:
    """One appliance whose Meet and Teams hosts are the mock meetings."""
    root = tmp_path_factory.mktemp("e2e")
    port = free_port()
    env = appliance_env(root / "data", port, google_meet_base_url=mock_meetings.base_url,
                        teams_base_url=mock_meetings.base_url)
    app = Appliance(root / "data", env, port).start()
    yield app
    if app.process and app.process.poll() is None:
        app.stop()


@pytest.fixture(scope="session")
def user_token(meeting_appliance: Appliance) -> str:
    return meeting_appliance.new_user("e2e@example.com")[1]


@dataclass
class Session:
    """A meeting in the mock and the bot the appliance sent to it."""

    app: Appliance
    client: httpx.Client
    control: httpx.Client
    platform: str  # google_meet | teams
    native_id: str
    meeting: dict[str, Any]
    pid: int

    @property
    def mock_id(self) -> str:
        return self.native_id

    def mock(self, action: str = "", **body: Any) -> dict[str, Any]:
        if not action:
            answer = self.control.get(f"/control/meetings/{self.mock_id}")
        else:
            answer = self.control.post(f"/control/meetings/{self.mock_id}/{action}", json=body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def status(self) -> dict[str, Any]:
        answer = self.client.get(f"/meetings/{self.meeting['id']}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wait(self, statuses: set[str] | str, timeout_s: float = 60) -> dict[str, Any]:
        return wait_for_status(self.client, self.meeting["id"], statuses, timeout_s)

    def log(self) -> str:
        path = self.app.data_dir / "logs" / "bots" / f"meeting-{self.meeting['id']}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def screens(self) -> list[str]:
        folder = self.app.data_dir / "logs" / "bots" / f"meeting-{self.meeting['id']}-screens"
        return sorted(p.name for p in folder.glob("*.png")) if folder.exists() else []


@pytest.fixture
def start_bot(meeting_appliance: Appliance, user_token: str, mock_control: httpx.Client, reaper: Reaper):  # noqa: F811
    """start_bot(platform, variant, participants, create=True, mock_options=None, **bot request) -> Session;
    `mock_options` go into the mock meeting's creation (e.g. outline_lag_ms)."""
    clients: list[httpx.Client] = []

    def start(platform: str = "google_meet", variant: str = "ask", participants: tuple[str, ...] = ("Alice", "Bob"),
              create: bool = True, app: Appliance | None = None, token: str | None = None,
              mock_options: dict[str, Any] | None = None, **request: Any) -> Session:
        app = app or meeting_appliance
        client = app.client(token or user_token)
        clients.append(client)
        native = meet_code() if platform == "google_meet" else teams_id()
        if create:
            answer = mock_control.post("/control/meetings", json={
                "id": native, "platform": "meet" if platform == "google_meet" else "teams",
                "variant": variant, "participants": list(participants), **(mock_options or {})})
            assert answer.status_code == 201, answer.text
        body: dict[str, Any] = {"platform": platform, "native_meeting_id": native, **request}
        if platform == "teams":
            body.setdefault("passcode", "Pass1234")
        answer = client.post("/bots", json=body)
        assert answer.status_code == 201, answer.text
        meeting = answer.json()
        pid = reaper.track(pid_of(meeting["bot_container_id"]))
        return Session(app, client, mock_control, platform, native, meeting, pid)

    yield start
    for client in clients:
        client.close()


def transitions(meeting: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    return [(t["from"], t["to"], t["source"]) for t in meeting["data"]["status_transition"]]


def statuses(meeting: dict[str, Any]) -> list[str]:
    return [t["to"] for t in meeting["data"]["status_transition"]]


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
