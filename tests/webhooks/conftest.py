"""A webhook receiver on loopback for every test of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhooks.test_webhooks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
