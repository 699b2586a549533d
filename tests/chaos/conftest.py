"""Fixtures of the chaos tests: one appliance with its ASR for the module, the mock meetings,
a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import ChaosAppliance, WebhookReceiver
from tests.mock_meetings.fixtures import mock_control, mock_meetings  # noqa: F401 (fixtures)
from tests.mock_meetings.server import MockMeetingServer


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory, mock_meetings: MockMeetingServer) -> Iterator[ChaosAppliance]:  # noqa: F811
    appliance = ChaosAppliance(Path(tmp_path_factory.mktemp("chaos")), mock_meetings.base_url).start()
    try:
        yield appliance
    finally:
        appliance.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()
