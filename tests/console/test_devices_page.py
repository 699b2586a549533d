"""The Devices page in a real Chromium: a person compares the code, approves, revokes; a client
that announces itself by mDNS appears under Discovered (the app's registry, fed by the real
zeroconf browser); and the page's screenshots, desktop and phone, light and dark (written to
CONSOLE_SCREENSHOTS_DIR when set, as tests/console/test_screenshots.py does: docs/console/
devices-*.png were made with `CONSOLE_SCREENSHOTS_DIR=docs/console pytest
tests/console/test_devices_page.py -k screenshots`)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Awaitable, Coroutine, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.devices.registry import SightingRegistry
from appliance.discovery.service import Discovery
from appliance.discovery.sightings import CLIENT_SERVICE_TYPE, ClientSighting
from tests.conftest import wait_until
from tests.console.conftest import sign_in
from tests.console.test_screenshots import REPO, UNLABELLED, VIEWPORTS
from tests.devices.conftest import PairingBox, start_box
from tests.devices.device import Device, fingerprint_of
from tests.discovery.helpers import isolated_mdns_port
from tests.tls_helpers import served_pem

T = TypeVar("T")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PairingBox]:
    started = start_box(tmp_path_factory.mktemp("devices-page") / "data")
    yield started
    started.stop()


def test_a_user_compares_the_code_approves_and_later_revokes_in_the_browser(box: PairingBox, browser) -> None:
    _, key = box.tls.app.new_user("hedy@example.com")
    device = Device(name="Hedy's laptop")
    seen = fingerprint_of(served_pem(box.tls.https_port))
    with box.pinned() as client:
        started = device.ask(client).json()
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, box.console, api_key=key)
        page.click("nav.main >> text=Devices")
        row = page.locator("#pairing-requests tr", has_text=device.device_id)
        code = device.code(seen, started["server_nonce"])
        assert row.locator(".pair-code").inner_text() == f"{code[:3]} {code[3:]}"
        row.locator("button", has_text="Approve for me").click()
        page.wait_for_selector("text=Hedy's laptop is paired")
        assert page.locator("#pairing-requests").count() == 0

        with box.pinned() as client:
            token = device.poll(client, started["request_id"]).json()["token"]
            assert client.get("/meetings", headers={"X-API-Key": token}).status_code == 200
        page.reload()
        paired = page.locator("#paired-devices tr", has_text="Hedy's laptop")
        assert "127.0.0.1" in paired.inner_text()  # its last address, from the token's use
        paired.locator("button", has_text="Revoke").click()
        page.wait_for_selector("text=Hedy's laptop was revoked")
        assert page.locator("#revoked-devices", has_text="Hedy's laptop").count() == 1
        assert page.locator("#paired-devices").count() == 0
    finally:
        context.close()
    with box.pinned() as client:
        refused = client.get("/meetings", headers={"X-API-Key": token})
    assert refused.status_code == 401 and "pair it again" in refused.json()["detail"]


def test_a_client_announcing_itself_is_listed_as_discovered(box: PairingBox, browser, tmp_path: Path) -> None:
    """The appliance's browser (appliance/discovery) reports to the device registry on the box's
    own database, as `vomeet serve` wires them; run here, on an mDNS port of the test's own."""
    device_id = str(uuid.uuid4())
    listener = Settings(data_dir=tmp_path / "mdns", host="127.0.0.1", tls="off", mdns_loopback=True,
                        mdns_poll_s=0.2, mdns_name="devices-page-box")
    listener.ensure_dirs()
    announced = ServiceInfo(
        CLIENT_SERVICE_TYPE, f"katherine.{CLIENT_SERVICE_TYPE}", port=40124, server="katherine.local.",
        properties={"txtvers": "1", "id": device_id, "name": "Katherine's desktop", "ver": "0.2.0"},
        parsed_addresses=["127.0.0.1"],
    )
    _, key = box.tls.app.new_user("katherine@example.com")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, box.console, api_key=key)

    def discovered_row() -> str:
        page.goto(f"{box.console.url}/devices")
        rows = page.locator("#discovered-devices tr", has_text="Katherine's desktop")
        return rows.inner_text() if rows.count() else ""

    with isolated_mdns_port(), LoopThread() as mdns:
        db = Database(Settings(data_dir=box.tls.app.data_dir))
        discovery = Discovery.for_settings(listener, SightingRegistry(db))
        desktop: AsyncZeroconf = mdns.run(make_desktop())
        try:
            mdns.run(discovery.start())
            mdns.run(registered(desktop.async_register_service(announced)))
            row = wait_until(discovered_row, 15, what="the client under Discovered")
            assert "0.2.0" in row and "127.0.0.1" in row and "on the LAN" in row
            mdns.run(registered(desktop.async_unregister_service(announced)))
            wait_until(lambda: "gone" in discovered_row(), 15, what="the client shown as gone")
        finally:
            mdns.run(discovery.stop())
            mdns.run(desktop.async_close())
            mdns.run(db.dispose())
            context.close()


async def make_desktop() -> AsyncZeroconf:
    return AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)


async def registered(step: Awaitable[Awaitable[None]]) -> None:
    await (await step)


class LoopThread:
    """An event loop on a thread of its own (for zeroconf, whose tasks must keep running, and the
    registry's database): Playwright's sync API owns this thread's loop."""

    def __enter__(self) -> LoopThread:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def run(self, step: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(step, self.loop).result(timeout=30)

    def __exit__(self, *_exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def test_screenshots_of_the_devices_page(box: PairingBox, browser, tmp_path: Path) -> None:
    """Every group filled the real way: a device paired and used, one revoked, one asking, one
    only announced (recorded by the registry as the mDNS browser reports it)."""
    chosen = os.environ.get("CONSOLE_SCREENSHOTS_DIR")
    shots = REPO / chosen if chosen else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    _, key = box.tls.app.new_user("dana.weber@example.com")
    for name, revoke in (("Dana's ThinkPad", False), ("Old MacBook", True)):
        device = Device(name=name)
        with box.pinned() as client:
            started = device.ask(client).json()
        with box.console.signed_in(api_key=key) as user:
            box.decide(user, box.listed(user, device.device_id)[0], "approve")
        with box.pinned() as client:
            token = device.poll(client, started["request_id"]).json()["token"]
            client.get("/meetings", headers={"X-API-Key": token})
            if revoke:
                (mine,) = [d for d in client.get("/devices", headers={"X-API-Key": key}).json()["devices"]
                           if d["name"] == name]
                client.delete(f"/devices/{mine['id']}", headers={"X-API-Key": key})
    with box.pinned() as client:
        Device(name="Meeting room PC").ask(client)
    with LoopThread() as loop:
        db = Database(Settings(data_dir=box.tls.app.data_dir))
        sighting = ClientSighting(str(uuid.uuid4()), "Reception iMac", "0.1.0", ("192.168.1.42",), 40125,
                                  datetime.now(timezone.utc))
        loop.run(SightingRegistry(db).client_seen(sighting))
        loop.run(db.dispose())

    for viewport_name, viewport in VIEWPORTS.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=1,
                                          is_mobile=viewport_name == "phone")
            page = context.new_page()
            try:
                sign_in(page, box.console)
                page.goto(f"{box.console.url}/devices")
                for group in ("#pairing-requests", "#paired-devices", "#discovered-devices", "#revoked-devices"):
                    assert page.locator(group).count() == 1, group
                assert page.evaluate(UNLABELLED) == [], "controls without a label"
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"the page scrolls sideways by {overflow}px on {viewport_name}"
                page.screenshot(path=shots / f"devices-{viewport_name}-{scheme}.png", full_page=True)
            finally:
                context.close()
