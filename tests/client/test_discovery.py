"""Finding appliances, and being found, with real zeroconf on loopback (the appliance opts in to
announcing there; the mDNS port is the standard one, so names are unique per test)."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing

import ifaddr
import pytest
from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

from appliance import __version__
from appliance.discovery.sightings import CLIENT_SERVICE_TYPE
from client import announce
from client.announce import ClientAnnouncer
from client.discovery import ApplianceBrowser, manual_ad, parse_ad
from client.errors import ClientError
from client.trust import fingerprint_of, first_contact
from tests.client.conftest import MakeBox, unique
from tests.conftest import wait_until

LOOPBACK = ["127.0.0.1"]


def test_the_client_finds_an_announcing_appliance_with_its_fingerprint(make_box: MakeBox) -> None:
    name = unique("front-desk")
    box = make_box(mdns="true", mdns_loopback="true", mdns_name=name)
    found: list[str] = []
    browser = ApplianceBrowser(on_found=lambda ad: found.append(ad.name), interfaces=LOOPBACK)
    browser.start()
    try:
        ad = wait_until(lambda: next((a for a in browser.appliances() if a.name == name), None), 30,
                        what=f"the appliance {name} on mDNS")
    finally:
        browser.stop()
    assert name in found
    assert (ad.port, ad.tls, ad.version, ad.addresses) == (box.https_port, True, __version__, ("127.0.0.1",))
    assert ad.fingerprint == fingerprint_of(box.certificate_pem())
    uuid.UUID(ad.id)
    # The announced pin is the certificate the address serves: first contact accepts it.
    assert fingerprint_of(first_contact(ad.addresses[0], ad.port, ad.fingerprint)) == ad.fingerprint
    assert ad.base_url() == f"https://127.0.0.1:{box.https_port}/"
    # GET /tls (public) says the same id, for a client that reached the box by a typed address.
    with box.pinned() as client:
        assert client.get("/tls").json()["id"] == ad.id


def test_first_contact_refuses_a_certificate_that_is_not_the_announced_one(make_box: MakeBox) -> None:
    box, impostor = make_box(), make_box()
    with pytest.raises(ClientError) as refused:
        first_contact("127.0.0.1", impostor.https_port, fingerprint_of(box.certificate_pem()))
    assert "is not the one the appliance announced" in str(refused.value) and "do not pair" in str(refused.value)


def test_the_appliance_lists_a_client_that_announces_itself(make_box: MakeBox) -> None:
    box = make_box(mdns="true", mdns_loopback="true", mdns_name=unique("box"))
    device_id = str(uuid.uuid4())
    announcer = ClientAnnouncer(device_id, "Alice's laptop", "0.1.0", interfaces=LOOPBACK)

    def sighting() -> tuple[str, str, str | None] | None:
        with closing(sqlite3.connect(box.app.data_dir / "vomeet.db")) as db:
            return db.execute("SELECT name, version, gone_at FROM device_sightings WHERE device_id = ?",
                              (device_id,)).fetchone()

    announcer.start()
    try:
        assert wait_until(sighting, 30, what="the appliance to record the client")[:2] == ("Alice's laptop", "0.1.0")
    finally:
        announcer.stop()
    # The goodbye on stop: the appliance marks it gone at once, not at the record's expiry.
    wait_until(lambda: (sighting() or (None, None, None))[2] is not None, 15, what="the goodbye to arrive")


def test_the_client_announces_its_id_name_and_version_and_nothing_else() -> None:
    device_id = str(uuid.uuid4())
    announcer = ClientAnnouncer(device_id, "laptop", "0.1.0", interfaces=LOOPBACK)
    changes: list[tuple[str, ServiceStateChange]] = []
    listener = Zeroconf(interfaces=LOOPBACK)
    browser = ServiceBrowser(listener, CLIENT_SERVICE_TYPE, handlers=[
        lambda zeroconf, service_type, name, state_change: changes.append((name, state_change)),
    ])
    announcer.start()
    try:
        ours = announcer.info.name
        wait_until(lambda: (ours, ServiceStateChange.Added) in changes, 15, what="the client's announcement")
        info = listener.get_service_info(CLIENT_SERVICE_TYPE, ours, 3000)
        assert info is not None
        assert info.decoded_properties == {"txtvers": "1", "id": device_id, "name": "laptop", "ver": "0.1.0"}
        announcer.stop()
        wait_until(lambda: (ours, ServiceStateChange.Removed) in changes, 15, what="the client's goodbye")
    finally:
        announcer.stop()
        browser.cancel()
        listener.close()


def test_an_announcement_is_read_into_an_ad() -> None:
    txt = {"txtvers": "1", "id": "a1", "ver": "0.2.0", "api": "/", "ui": "/ui", "tls": "1", "fp": "AB" * 32}
    ad = parse_ad("Front desk (2)._vomeet._tcp.local.", txt, ["fe80::1%eth0", "2001:db8::7", "192.0.2.7"], 8056)
    assert ad is not None
    assert (ad.name, ad.addresses, ad.fingerprint) == ("Front desk (2)", ("192.0.2.7", "2001:db8::7"), "ab" * 32)
    assert ad.console_url("2001:db8::7") == "https://[2001:db8::7]:8056/ui"
    assert parse_ad("x._vomeet._tcp.local.", {**txt, "txtvers": "2"}, ["192.0.2.7"], 8056) is None
    assert parse_ad("x._vomeet._tcp.local.", {**txt, "tls": "0"}, ["192.0.2.7"], 8056).fingerprint is None  # type: ignore[union-attr]


def test_a_typed_address_is_an_ad_of_its_own() -> None:
    assert manual_ad("192.0.2.7").base_url() == "https://192.0.2.7:8056/"
    assert manual_ad(" [2001:db8::7]:9443 ").base_url() == "https://[2001:db8::7]:9443/"
    assert manual_ad("http://box.local:8056").base_url() == "http://box.local:8056/"
    with pytest.raises(ClientError, match="write host:port"):
        manual_ad("box:notaport")


def test_the_client_announces_only_lan_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    # The adapters a laptop with Docker, a k3s node and a VPN reports (ifaddr's own types).
    def adapter(name: str, *ips: str | tuple[str, int, int]) -> ifaddr.Adapter:
        return ifaddr.Adapter(name, name, [ifaddr.IP(ip, 24, name) for ip in ips])

    adapters = [
        adapter("lo", "127.0.0.1", ("::1", 0, 0)),
        adapter("wlan0", "192.0.2.7", ("fe80::1", 0, 3), ("2001:db8::7", 0, 0)),
        adapter("docker0", "172.17.0.1"), adapter("cni0", "10.42.0.1"), adapter("flannel.1", "10.42.0.0"),
        adapter("veth1234", "169.254.0.2"), adapter("tun0", "10.8.0.2"), adapter("eth0", "198.51.100.4"),
    ]
    monkeypatch.setattr(ifaddr, "get_adapters", lambda: adapters)
    assert announce.lan_addresses() == ["192.0.2.7", "2001:db8::7", "198.51.100.4"]
