"""Fixtures for the Google and Microsoft providers: their test doubles on loopback and the box's
settings pointed at them (the endpoints are settings: docs/configuration.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.calendars import api_client
from appliance.config import Settings, load_settings
from tests.calendars.providers.google_double import GoogleDouble
from tests.calendars.providers.microsoft_double import GraphDouble


@pytest.fixture(autouse=True)
def no_cached_tokens() -> Iterator[None]:
    """Access tokens are cached per process; each test starts without any."""
    api_client._TOKENS.clear()
    api_client._ROTATED.clear()
    yield
    api_client._TOKENS.clear()
    api_client._ROTATED.clear()


@pytest.fixture
def google() -> Iterator[GoogleDouble]:
    double = GoogleDouble().start()
    yield double
    double.stop()


@pytest.fixture
def graph() -> Iterator[GraphDouble]:
    double = GraphDouble().start()
    yield double
    double.stop()


@pytest.fixture
def google_settings(tmp_path: Path, google: GoogleDouble) -> Settings:
    secret_file = tmp_path / "google-client-secret"
    secret_file.write_text(google.client_secret + "\n")
    return load_settings(data_dir=tmp_path / "data", calendar_google_api_url=google.api_url,
                         calendar_google_token_url=google.token_url, calendar_google_client_id=google.client_id,
                         calendar_google_client_secret_file=secret_file)


@pytest.fixture
def graph_settings(tmp_path: Path, graph: GraphDouble) -> Settings:
    return load_settings(data_dir=tmp_path / "data", calendar_microsoft_graph_url=graph.graph_url,
                         calendar_microsoft_login_url=graph.base_url, calendar_microsoft_client_id=graph.client_id,
                         calendar_microsoft_tenant=graph.tenant)
