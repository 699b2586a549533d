"""Where an API key may be given, and that no key reaches the log, even at debug level.

A REST call takes the key in the X-API-Key header only; /ws also takes it as a subprotocol and,
for browsers, in the query. Whatever the way, the appliance's log never holds the key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import Appliance


def ping(appliance: Appliance, how: str, token: str) -> str | None:
    """Open /ws giving the key `how`, check that it works; returns the chosen subprotocol."""
    url = f"ws://127.0.0.1:{appliance.port}/ws"
    choices: dict[str, dict[str, Any]] = {
        "header": {"additional_headers": {"X-API-Key": token}},
        "subprotocol": {"subprotocols": ["vomeet.v1", f"vomeet.key.{token}"]},
        "query": {},
    }
    with connect(f"{url}?api_key={token}" if how == "query" else url, open_timeout=10, **choices[how]) as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
        assert token not in str(ws.response.headers), "the handshake answer never echoes the key"
        return ws.subprotocol


@pytest.mark.parametrize("how", ["header", "subprotocol", "query"])
def test_ws_takes_the_key_in_a_header_a_subprotocol_or_the_query(appliance: Appliance, how: str) -> None:
    _, token = appliance.new_user(f"ws-key-{how}-{time.monotonic_ns()}@example.com")
    chosen = ping(appliance, how, token)
    assert chosen == ("vomeet.v1" if how == "subprotocol" else None)


def test_rest_calls_refuse_a_key_in_the_url(appliance: Appliance) -> None:
    _, token = appliance.new_user(f"rest-key-{time.monotonic_ns()}@example.com")
    in_url = httpx.get(f"{appliance.base_url}/meetings", params={"api_key": token}, timeout=30)
    assert in_url.status_code == 401
    assert "send it in the X-API-Key header" in in_url.json()["detail"]
    with appliance.client(token) as client:
        # Refused even next to a valid header: the key has been put in a URL, and so in logs.
        assert client.get("/meetings", params={"api_key": token}).status_code == 401
        assert client.get("/meetings").status_code == 200


def test_no_key_reaches_the_log_at_debug_level(make_appliance: Callable[..., Appliance]) -> None:
    app = make_appliance(log_level="debug").start()
    _, token = app.new_user("debug-log@example.com")
    for how in ("query", "header", "subprotocol"):
        ping(app, how, token)
    assert httpx.get(f"{app.base_url}/meetings", params={"api_key": token}, timeout=30).status_code == 401
    with app.client(token) as client:
        assert client.get("/meetings").status_code == 200
    assert app.stop() == 0
    log = app.log_path.read_text(errors="replace")
    # The lines are written (access log on at debug), with the key masked...
    assert '"WebSocket /ws?api_key=[redacted]"' in log
    assert '"GET /meetings?api_key=[redacted] HTTP/1.1" 401' in log
    # ...and no trace of the key anywhere, nor of its random part.
    assert token.removeprefix("vmt_") not in log
