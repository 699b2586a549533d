"""Withdrawing a credential reaches the WebSockets already open with it, within a second.

Against the real appliance with a real WebSocket client: a socket opened with a token that is
then revoked (by the admin API or by `vomeet admin revoke-token` from another process), or whose
user is deleted, is closed with code 4401, and nothing can be subscribed on it any more.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import REPO, Appliance

CLOSE_REVOKED = 4401


@contextmanager
def ws_open(appliance: Appliance, token: str) -> Iterator[ClientConnection]:
    with connect(f"ws://127.0.0.1:{appliance.port}/ws", additional_headers={"X-API-Key": token}, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}, "the socket works before the revocation"
        yield ws


def closed_with(ws: ClientConnection, within_s: float = 1.0) -> tuple[int, str]:
    """The close code and reason the server sent within `within_s` (a receive with a deadline)."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=within_s)
    assert closed.value.rcvd is not None, "the server closed the socket"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def assert_cannot_subscribe(ws: ClientConnection) -> None:
    with pytest.raises(ConnectionClosed):
        ws.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": 1}], "since": "2000-01-01T00:00:00Z"}))


def token_ids(appliance: Appliance, user_id: int) -> list[int]:
    with appliance.admin() as admin:
        return [t["id"] for t in admin.get(f"/admin/users/{user_id}").json()["tokens"]]


def second_token(appliance: Appliance, user_id: int) -> str:
    with appliance.admin() as admin:
        return str(admin.post(f"/admin/users/{user_id}/tokens").json()["token"])


def test_revoking_a_token_closes_its_sockets_and_no_others(appliance: Appliance) -> None:
    user_id, revoked = appliance.new_user(f"revoke-{time.monotonic_ns()}@example.com")
    (revoked_id,) = token_ids(appliance, user_id)
    kept = second_token(appliance, user_id)
    with (
        ws_open(appliance, revoked) as doomed,
        ws_open(appliance, revoked) as doomed_too,
        ws_open(appliance, kept) as other,
    ):
        with appliance.admin() as admin:
            assert admin.delete(f"/admin/tokens/{revoked_id}").status_code == 204
        for ws in (doomed, doomed_too):
            assert closed_with(ws) == (CLOSE_REVOKED, "API key revoked")
            assert_cannot_subscribe(ws)
        other.send(json.dumps({"action": "ping"}))
        assert json.loads(other.recv(timeout=10)) == {"type": "pong"}, "the user's other key still works"


def test_revoking_from_the_command_line_closes_the_socket(appliance: Appliance) -> None:
    user_id, token = appliance.new_user(f"revoke-cli-{time.monotonic_ns()}@example.com")
    (token_id,) = token_ids(appliance, user_id)
    with ws_open(appliance, token) as ws:
        # Another process changes the database: the API process learns of it by itself.
        subprocess.run([sys.executable, "-m", "appliance", "admin", "revoke-token", str(token_id)],
                       cwd=REPO, env=appliance.env, check=True, capture_output=True)
        assert closed_with(ws) == (CLOSE_REVOKED, "API key revoked")
        assert_cannot_subscribe(ws)


def test_deleting_a_user_closes_all_their_sockets(appliance: Appliance) -> None:
    user_id, first = appliance.new_user(f"delete-{time.monotonic_ns()}@example.com")
    second = second_token(appliance, user_id)
    with ws_open(appliance, first) as one, ws_open(appliance, second) as two:
        # The API has no call to delete a user (yet); an operator does it in the database, and
        # the foreign keys take the user's tokens and console sessions along.
        with closing(sqlite3.connect(appliance.data_dir / "vomeet.db", timeout=30)) as db, db:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        for ws in (one, two):
            assert closed_with(ws) == (CLOSE_REVOKED, "user deleted")
            assert_cannot_subscribe(ws)


def test_a_disconnect_leaves_no_pending_task_behind(appliance: Appliance) -> None:
    _, token = appliance.new_user(f"disconnect-{time.monotonic_ns()}@example.com")
    offset = appliance.log_path.stat().st_size
    for _ in range(20):
        with ws_open(appliance, token):
            pass
    # Enough work after the disconnects for the server's garbage collector to run.
    with appliance.client(token) as client:
        for _ in range(200):
            assert client.get("/meetings").status_code == 200
    written = appliance.log_path.read_text(errors="replace")[offset:]
    assert "Task was destroyed but it is pending" not in written
