"""Real calendar sources for the sync tests: an ICS feed served over loopback HTTP by the test,
and a Radicale CalDAV server started by it; plus a migrated SQLite database to sync into."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from appliance.config import Settings, load_settings
from appliance.db import migrate
from appliance.db.engine import Database
from tests.conftest import free_port, wait_until

MEETING_HOST = "http://127.0.0.1:9"  # meeting links point here: recognised, never opened by these tests
T = TypeVar("T")
USERS = {"alice@example.com": "alice-pw", "bob@example.com": "bob-pw", "carol@example.com": "carol-pw"}


@dataclass
class FeedServer:
    """An ICS feed with ETag and Last-Modified, 304 on a matching conditional GET, and a switch
    that makes it fail (with an optional Retry-After). Keeps every request's headers, in order.
    Served by http.server in a thread of the test, on a free loopback port."""

    secret: str = "s3cr3t-feed-token-4f9a"
    body: bytes = b""
    fail_status: int | None = None
    retry_after: str | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    modified: datetime = field(default_factory=lambda: datetime(2026, 11, 1, tzinfo=timezone.utc))
    port: int = field(default_factory=free_port)
    _server: ThreadingHTTPServer | None = None

    @property
    def path(self) -> str:
        return f"/private/{self.secret}/basic.ics"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    def publish(self, body: str) -> None:
        self.body = body.encode()
        self.modified = datetime.now(timezone.utc).replace(microsecond=0)

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(headers)
        if path != self.path:
            return 404, {}, b"no such feed"
        if self.fail_status is not None:
            return self.fail_status, ({"Retry-After": self.retry_after} if self.retry_after else {}), b"down"
        if headers.get("if-none-match") == self.etag:
            return 304, {"ETag": self.etag}, b""
        return 200, {"Content-Type": "text/calendar", "ETag": self.etag,
                     "Last-Modified": format_datetime(self.modified, usegmt=True)}, self.body

    def start(self) -> FeedServer:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = feed.answer(self.path, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test asserts on requests, not on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="ics-feed").start()
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@dataclass
class RadicaleServer:
    base_url: str
    process: subprocess.Popen[bytes]

    def client(self, email: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(email, USERS[email]), timeout=10)

    def make_calendar(self, email: str, name: str) -> str:
        """A new calendar collection of `email`'s; returns its URL."""
        url = f"/{email}/{name}/"
        body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                f'<D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set></C:mkcalendar>')
        with self.client(email) as client:
            answer = client.request("MKCALENDAR", url, content=body)
        assert answer.status_code == 201, answer.text
        return self.base_url + url

    def put(self, calendar_url: str, email: str, name: str, ics: str) -> None:
        with self.client(email) as client:
            answer = client.put(calendar_url + name, content=ics, headers={"Content-Type": "text/calendar"})
        assert answer.status_code in (201, 204), answer.text

    def delete(self, calendar_url: str, email: str, name: str) -> None:
        with self.client(email) as client:
            assert client.delete(calendar_url + name).status_code in (200, 204)


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    root = tmp_path_factory.mktemp("radicale")
    (root / "users").write_text("".join(f"{email}:{pw}\n" for email, pw in USERS.items()))
    port = free_port()
    (root / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {root / 'users'}\nhtpasswd_encryption = plain\n"
        f"[storage]\nfilesystem_folder = {root / 'storage'}\n"
        "[logging]\nlevel = warning\n"
    )
    log = (root / "radicale.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(root / "config")],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = RadicaleServer(f"http://127.0.0.1:{port}", process)

    def up() -> bool:
        assert process.poll() is None, (root / "radicale.log").read_text()
        try:
            return httpx.get(server.base_url + "/.web/", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(up, 30, what="Radicale to listen")
    yield server
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=10)
    log.close()


@dataclass(frozen=True)
class Box:
    """What the sync engine runs on: the settings and a database (the SyncContext shape)."""

    settings: Settings
    db: Database


def box_settings(data_dir: Path, **overrides: object) -> Settings:
    return load_settings(data_dir=data_dir, google_meet_base_url=MEETING_HOST, teams_base_url=MEETING_HOST,
                         **overrides)


def run(settings: Settings, scenario: Callable[[Box], Awaitable[T]]) -> T:
    """`scenario` on one event loop with a database handle of its own (an engine is bound to the
    loop that made it)."""

    async def main() -> T:
        db = Database(settings)
        try:
            return await scenario(Box(settings, db))
        finally:
            await db.dispose()

    return asyncio.run(main())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A migrated database holding the three users (ids 1-3, in USERS' order)."""
    configured = box_settings(tmp_path / "data")
    migrate.upgrade(configured)
    with closing(sqlite3.connect(configured.database_path)) as conn, conn:
        for n, email in enumerate(USERS, start=1):
            conn.execute("INSERT INTO users (id, email, max_concurrent_bots, data, created_at) "
                         "VALUES (?, ?, 1, '{}', '2026-01-01 00:00:00.000000')", (n, email))
    return configured
