"""pytest fixtures for the mock meetings: `mock_meetings` (one server for the session) and
`mock_control` (an httpx client on its control API). Import them into a conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Appliance, appliance_env, free_port, wait_until
from tests.mock_meetings.server import MockMeetingServer


@pytest.fixture(scope="session")
def mock_meetings() -> Iterator[MockMeetingServer]:
    server = MockMeetingServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def mock_control(mock_meetings: MockMeetingServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock_meetings.base_url, timeout=30) as client:
        yield client


def appliance_with_asr(data_dir: Path, mock_meetings: MockMeetingServer) -> Appliance:
    """A started `vomeet serve` whose Meet and Teams hosts are the mock meetings, with its real ASR
    server and model loaded (the caller stops it)."""
    port = free_port()
    env = appliance_env(
        data_dir, port, google_meet_base_url=mock_meetings.base_url, teams_base_url=mock_meetings.base_url,
        asr_enabled="true", asr_port=str(free_port()),
    )
    app = Appliance(data_dir, env, port).start()
    wait_until(lambda: httpx.get(f"{app.base_url}/readyz").json()["checks"]["asr"]["ok"], 120, 0.5,
               "the ASR server to load its model")
    return app
