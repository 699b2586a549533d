"""The console's live socket ends with its session: signing out, or revoking the key the user
signed in with, closes it within a second; another session's socket stays open."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.console.conftest import Console, csrf_of


@contextmanager
def console_socket(console: Console, signed_in: httpx.Client) -> Iterator[ClientConnection]:
    headers = {"Cookie": f"vomeet_console={signed_in.cookies['vomeet_console']}", "Origin": console.app.base_url}
    with connect(f"ws://127.0.0.1:{console.app.port}/ws", additional_headers=headers, open_timeout=10) as ws:
        assert_alive(ws)
        yield ws


def assert_alive(ws: ClientConnection) -> None:
    ws.send(json.dumps({"action": "ping"}))
    assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}


def closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=1.0)
    assert closed.value.rcvd is not None, "the server closed the socket"
    with pytest.raises(ConnectionClosed):
        ws.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": 1}]}))
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_signing_out_closes_that_sessions_socket_only(console: Console) -> None:
    _, key = console.app.new_user(f"signout-{time.monotonic_ns()}@example.com")
    with console.signed_in(api_key=key) as leaving, console.signed_in(api_key=key) as staying:
        with console_socket(console, leaving) as gone, console_socket(console, staying) as kept:
            answer = leaving.post("/ui/signout", data={"csrf_token": csrf_of(leaving.get("/ui").text)})
            assert answer.status_code == 303
            assert closed_with(gone) == (4401, "signed out")
            assert_alive(kept)


def test_revoking_the_key_closes_the_console_socket_of_that_key(console: Console) -> None:
    email = f"signout-revoke-{time.monotonic_ns()}@example.com"
    _, key = console.app.new_user(email)
    with console.signed_in(api_key=key) as user, console_socket(console, user) as ws:
        with console.app.admin() as admin:
            token_id = admin.get(f"/admin/users/email/{email}").json()["tokens"][0]["id"]
            assert admin.delete(f"/admin/tokens/{token_id}").status_code == 204
        assert closed_with(ws) == (4401, "API key revoked")
