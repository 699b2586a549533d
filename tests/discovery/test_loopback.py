"""The appliance's mDNS on loopback, as python-zeroconf's own tests run theirs: real sockets on
127.0.0.1 with the mDNS port moved to one of the test's own, a second AsyncZeroconf browsing.

The box's certificate is its real one (appliance/tls), so the TXT `fp` is checked against the
fingerprint `vomeet` serves, and a rotation is seen by a browser as an update of the record.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zeroconf import IPVersion, ServiceInfo, ServiceStateChange
from zeroconf.asyncio import AsyncZeroconf

from appliance import __version__
from appliance.config import Settings
from appliance.discovery.records import APPLIANCE_SERVICE_TYPE, HTTPS_SERVICE_TYPE
from appliance.discovery.service import Discovery, DiscoveryRun
from appliance.discovery.sightings import CLIENT_SERVICE_TYPE, ClientSighting
from appliance.tls import TlsStore, current_fingerprint
from tests.discovery.helpers import RecordingSink, ServiceWatcher, isolated_mdns_port

LOOPBACK = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def mdns_port() -> Iterator[int]:
    with isolated_mdns_port() as port:
        yield port


@pytest.fixture
def room() -> str:
    """An instance name of this test's own: other tests may be announcing on loopback now."""
    return f"room-{uuid.uuid4().hex[:8]}"


def box(data_dir: Path, name: str, **extra: Any) -> Settings:
    chosen: dict[str, Any] = {"tls": "on", "mdns_loopback": True, "mdns_poll_s": 0.2, **extra}
    settings = Settings(data_dir=data_dir, host="127.0.0.1", port=8443, mdns_name=name, **chosen)
    settings.ensure_dirs()
    return settings


def test_the_box_is_announced_with_its_pin_updated_on_rotation_and_says_goodbye(
    tmp_path: Path, mdns_port: int, room: str
) -> None:
    settings = box(tmp_path, room)

    async def scenario() -> None:
        watcher = ServiceWatcher(APPLIANCE_SERVICE_TYPE, LOOPBACK, mdns_port, of=room)
        console = ServiceWatcher(HTTPS_SERVICE_TYPE, LOOPBACK, mdns_port, of=room)
        discovery = Discovery.for_settings(settings)
        try:
            await discovery.start()
            added = await watcher.next(ServiceStateChange.Added)
            assert added.name == f"{room}.{APPLIANCE_SERVICE_TYPE}"
            assert added.addresses == ["127.0.0.1"] and added.port == 8443
            fingerprint = current_fingerprint(settings)
            assert added.properties == {
                "txtvers": "1", "id": (tmp_path / "appliance-id").read_text().strip(), "ver": __version__,
                "api": "/", "ui": "/ui", "tls": "1", "fp": fingerprint,
            }
            page = await console.next(ServiceStateChange.Added)
            assert page.properties == {"path": "/ui"} and page.port == 8443

            state = json.loads((settings.state_dir / "mdns.json").read_text())  # what doctor shows
            assert {s["type"] for s in state["services"]} == {APPLIANCE_SERVICE_TYPE, HTTPS_SERVICE_TYPE}

            store = TlsStore(settings)
            store.stage()
            rotated = store.activate().fingerprint
            assert rotated != fingerprint
            updated = await watcher.next(ServiceStateChange.Updated, where=lambda s: s.properties.get("fp") == rotated)
            assert updated.name == added.name  # the same service, not a new one

            await discovery.stop()
            await watcher.next(ServiceStateChange.Removed)
            await console.next(ServiceStateChange.Removed)
            assert not (settings.state_dir / "mdns.json").exists()
        finally:
            await discovery.stop()
            await watcher.close()
            await console.close()

    asyncio.run(scenario())


def test_a_second_box_of_the_same_name_gets_a_suffix(tmp_path: Path, mdns_port: int, room: str) -> None:
    first, second = box(tmp_path / "a", room), box(tmp_path / "b", room)

    async def scenario() -> None:
        watcher = ServiceWatcher(APPLIANCE_SERVICE_TYPE, LOOPBACK, mdns_port, of=room)
        boxes = [Discovery.for_settings(first), Discovery.for_settings(second)]
        try:
            await boxes[0].start()
            await watcher.next(ServiceStateChange.Added)
            await boxes[1].start()
            other = await watcher.next(ServiceStateChange.Added)
            assert other.name == f"{room}-2.{APPLIANCE_SERVICE_TYPE}"
            assert other.properties["id"] == (tmp_path / "b" / "appliance-id").read_text().strip()
        finally:
            for discovery in boxes:
                await discovery.stop()
            await watcher.close()

    asyncio.run(scenario())


def test_serve_announces_once_begun_and_not_at_all_with_mdns_off(tmp_path: Path, mdns_port: int, room: str) -> None:
    """What `vomeet serve` runs (DiscoveryRun): a box with VOMEET_MDNS=false, begun first, is
    never heard; one begun after it is, and leaves when ended."""
    quiet = DiscoveryRun(box(tmp_path / "quiet", f"{room} quiet", mdns=False), lambda: None)
    heard = DiscoveryRun(box(tmp_path / "heard", f"{room} heard"), lambda: None)

    async def scenario() -> None:
        watcher = ServiceWatcher(APPLIANCE_SERVICE_TYPE, LOOPBACK, mdns_port, of=room)  # both boxes
        try:
            quiet.begin()
            heard.begin()
            added = await watcher.next(ServiceStateChange.Added)
            assert added.name == f"{room} heard.{APPLIANCE_SERVICE_TYPE}"
            await heard.end()
            gone = await watcher.next(ServiceStateChange.Added, ServiceStateChange.Removed)
            assert (gone.change, gone.name) == (ServiceStateChange.Removed, added.name)
            await quiet.end()
            assert not (tmp_path / "quiet" / "run" / "mdns.json").exists()
        finally:
            await heard.end()
            await watcher.close()

    asyncio.run(scenario())


def desktop_client(room: str, device_id: str, name: str = "Ana's laptop", version: str = "0.3.0") -> ServiceInfo:
    """What a desktop client announces (client/announce.py's record), on loopback."""
    return ServiceInfo(
        CLIENT_SERVICE_TYPE, f"{room}-laptop.{CLIENT_SERVICE_TYPE}", port=40123, server=f"{room}-laptop.local.",
        properties={"txtvers": "1", "id": device_id, "name": name, "ver": version},
        parsed_addresses=["127.0.0.1"],
    )


def test_the_appliance_hears_a_desktop_client_arrive_change_and_leave(tmp_path: Path, room: str) -> None:
    device_id = str(uuid.uuid4())

    async def scenario() -> None:
        sink = RecordingSink()
        discovery = Discovery.for_settings(box(tmp_path, room, tls="off"), sink)
        desktop = AsyncZeroconf(interfaces=LOOPBACK, ip_version=IPVersion.V4Only)
        try:
            await discovery.start()
            announced = desktop_client(room, device_id)
            await (await desktop.async_register_service(announced))
            seen = await sink.next(device_id)
            assert not isinstance(seen, str)
            assert (seen.device_id, seen.name, seen.version) == (device_id, "Ana's laptop", "0.3.0")
            assert seen.addresses == ("127.0.0.1",) and seen.port == 40123

            announced = desktop_client(room, device_id, "Ana", "0.4.0")
            await (await desktop.async_update_service(announced))
            renamed = await sink.next(device_id)
            assert not isinstance(renamed, str) and (renamed.name, renamed.version) == ("Ana", "0.4.0")

            await (await desktop.async_unregister_service(announced))
            assert await sink.next(device_id) == device_id
        finally:
            await discovery.stop()
            await desktop.async_close()

    asyncio.run(scenario())


def test_a_failed_first_try_is_retried_at_the_next_poll(tmp_path: Path, mdns_port: int, room: str) -> None:
    settings = box(tmp_path, room)
    tries: list[int] = []

    def fingerprint() -> str | None:
        tries.append(1)
        if len(tries) == 1:
            raise OSError("the certificate is being replaced")  # a passing failure at start
        return current_fingerprint(settings)

    async def scenario() -> None:
        watcher = ServiceWatcher(APPLIANCE_SERVICE_TYPE, LOOPBACK, mdns_port, of=room)
        discovery = Discovery(settings, fingerprint)
        try:
            await discovery.start()
            added = await watcher.next(ServiceStateChange.Added)
            assert added.properties["fp"] == current_fingerprint(settings) and len(tries) >= 2
        finally:
            await discovery.stop()
            await watcher.close()

    asyncio.run(scenario())


class SlowRegistry(RecordingSink):
    """A registry whose write of a sighting takes a while (a busy database), noting whether a
    client was marked gone while a sighting of it was still being written (which then lands last
    and leaves the device listed as present)."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = 0
        self.gone_during_a_write = False

    async def client_seen(self, sighting: ClientSighting) -> None:
        self.writing += 1
        try:
            await asyncio.sleep(0.5)  # the database's time, not a wait for anything
            await super().client_seen(sighting)
        finally:
            self.writing -= 1

    async def client_gone(self, device_id: str) -> None:
        self.gone_during_a_write = self.gone_during_a_write or self.writing > 0
        await super().client_gone(device_id)


def test_the_registry_hears_of_a_client_in_the_order_it_came_and_went(tmp_path: Path, room: str) -> None:
    device_id = str(uuid.uuid4())
    info = desktop_client(room, device_id)

    async def scenario() -> None:
        sink = SlowRegistry()
        discovery = Discovery.for_settings(box(tmp_path, room, tls="off"), sink)
        desktop = AsyncZeroconf(interfaces=LOOPBACK, ip_version=IPVersion.V4Only)
        try:
            await discovery.start()
            await (await desktop.async_register_service(info))
            await (await desktop.async_unregister_service(info))  # gone while sightings are written
            while await sink.next(device_id) != device_id:
                pass  # its sightings, then its leaving
            assert not sink.gone_during_a_write
        finally:
            await discovery.stop()
            await desktop.async_close()

    asyncio.run(scenario())
