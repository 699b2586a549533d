"""Fixtures of the client core's tests: a real appliance with TLS on (and mDNS on loopback), and
a console user's decision on a pairing request, made through the appliance's own pairing code
on its SQLite file (the Devices page calls the same `Pairing.approve`/`reject`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select

from appliance.config import load_settings
from appliance.db.engine import Database
from appliance.db.models import PairingRequest, User
from appliance.devices.pairing import Pairing
from client.store import RememberedAppliance
from client.trust import fetch_certificate
from tests.calendars.providers import conftest as providers
from tests.calendars.providers.google_double import GoogleDouble
from tests.calendars.providers.test_google import event
from tests.conftest import HangingMeetingHost
from tests.tls_helpers import TlsAppliance, start_tls_appliance

MakeBox = Callable[..., TlsAppliance]


@pytest.fixture
def make_box(tmp_path: Path, hanging_host: HangingMeetingHost) -> Iterator[MakeBox]:
    """Start TLS appliances of a test's own (Meet and Teams never answer, so bots stay joining)."""
    started: list[TlsAppliance] = []

    def make(**settings: str) -> TlsAppliance:
        settings = {
            "google_meet_base_url": hanging_host.base_url, "teams_base_url": hanging_host.base_url,
            **settings,
        }
        box = start_tls_appliance(tmp_path / f"box-{len(started)}", **settings)
        started.append(box)
        return box

    yield make
    for box in started:
        if box.app.process and box.app.process.poll() is None:
            box.app.stop()
        box.app.reap_leftovers()


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


def remembered(box: TlsAppliance, appliance_id: str = "test-box") -> RememberedAppliance:
    """The box as a client remembers it after pinning the certificate it serves."""
    return RememberedAppliance(
        id=appliance_id, name="test box", addresses=("127.0.0.1",), port=box.https_port,
        pins=(fetch_certificate("127.0.0.1", box.https_port),), ui_path="/ui",
    )


def decide(box: TlsAppliance, request_id: str, approve_for: str | None) -> None:
    """Approve the request for the user with email `approve_for`, or reject it (None)."""

    async def run() -> None:
        db = Database(load_settings(data_dir=box.app.data_dir))
        pairing = Pairing(db, lambda: None, 300, 10, 60)
        try:
            async with db.session() as session:
                pk = await session.scalar(select(PairingRequest.id).where(PairingRequest.request_id == request_id))
                user_id = await session.scalar(select(User.id).where(User.email == approve_for))
            assert pk is not None, f"no pairing request {request_id}"
            if approve_for is None:
                await pairing.reject(pk, "console test")
            else:
                assert user_id is not None, f"no user {approve_for}"
                await pairing.approve(pk, user_id, "console test")
        finally:
            await db.engine.dispose()

    asyncio.run(run())


class CuttableRelay:
    """A real TCP relay in front of the appliance's HTTPS port that a test can cut: `cut()`
    drops every relayed connection and closes new ones at once, as a lost Wi-Fi link would,
    until `resume()`. TLS passes through untouched (the client's pin is checked end to end)."""

    def __init__(self, target_port: int, host: str = "127.0.0.1", port: int = 0) -> None:
        self._target = target_port
        self.host = host
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.2)
        self.port = int(self._server.getsockname()[1])
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def resume(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._thread.join()
        self._server.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            if self._cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def relay_factory() -> Iterator[Callable[..., CuttableRelay]]:
    relays: list[CuttableRelay] = []

    def make(target_port: int, host: str = "127.0.0.1", port: int = 0) -> CuttableRelay:
        relays.append(CuttableRelay(target_port, host, port))
        return relays[-1]

    yield make
    for relay in relays:
        relay.close()


google = providers.google  # the Google double's fixture, for the desktop client's sign-in tests too


@pytest.fixture
def google_box(make_box: MakeBox, google: GoogleDouble, tmp_path: Path) -> TlsAppliance:
    """A box whose Google endpoints (API, token, authorisation) are the double's."""
    secret = tmp_path / "google-client-secret"
    secret.write_text(google.client_secret)
    return make_box(calendar_google_api_url=google.api_url, calendar_google_token_url=google.token_url,
                    calendar_google_auth_url=google.auth_url, calendar_google_client_id=google.client_id,
                    calendar_google_client_secret_file=str(secret))


def event_on_google(google: GoogleDouble, email: str, title: str, days: int) -> None:
    """An hour's event `days` from now on `email`'s calendar at the Google double."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    google.put(email, event(title, start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")))


class Browser:
    """The person's browser in Google's sign-in: opens the URL the client hands it and follows
    the double's redirect to the client's loopback server. `tamper` changes the redirect's query
    on the way (what another page's request would carry)."""

    def __init__(self, tamper: Callable[[dict[str, str]], dict[str, str]] | None = None) -> None:
        self.tamper = tamper
        self.opened: list[str] = []
        self.pages: list[httpx.Response] = []

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        consent = httpx.get(url, timeout=10)
        assert consent.status_code == 302, consent.text
        target = urlsplit(consent.headers["location"])
        query = {k: v[0] for k, v in parse_qs(target.query).items()}
        if self.tamper:
            query = self.tamper(query)
        self.pages.append(httpx.get(target._replace(query=urlencode(query)).geturl(), timeout=10))
        return True
