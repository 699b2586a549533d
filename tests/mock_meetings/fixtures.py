"""pytest fixtures for the mock meetings: `mock_meetings` (one server for the session) and
`mock_control` (an httpx client on its control API). Import them into a conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
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
