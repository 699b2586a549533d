"""The webhook target policy reads every spelling of an address the way the resolver does, at save
and at delivery alike (issue: `[::ffff:127.0.0.1]`, `127.1`, `2130706433`, `0x7f000001` got through)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from appliance.webhooks.targets import (
    TargetRefused,
    check_for_delivery,
    check_saved,
    embedded_ipv4,
    parse_address,
)
from tests.conftest import Appliance

LOOPBACK_SPELLINGS = [
    "http://[::ffff:127.0.0.1]:8080/h",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/h",  # the same, in hex groups
    "http://[::127.0.0.1]/h",  # IPv4-compatible IPv6 (deprecated, still routed by some stacks)
    "http://[64:ff9b::127.0.0.1]/h",  # NAT64 well-known prefix
    "http://[64:ff9b:1::7f00:1]/h",  # NAT64 local-use prefix
    "http://[2002:7f00:1::]/h",  # 6to4 of 127.0.0.1
    "http://127.1/h",
    "http://127.0.1/h",
    "http://2130706433/h",
    "http://0x7f000001/h",
    "http://0x7f.0.0.1/h",
    "http://0177.0.0.1/h",
    "http://127.0.0.1./h",  # trailing dot
    "http://LOCALHOST/h",
    "http://localhost./h",
    "http://foo.localhost/h",
    "http://[0:0:0:0:0:0:0:1]/h",
]
METADATA_SPELLINGS = [
    "http://[::ffff:169.254.169.254]/latest/meta-data",
    "http://[::ffff:a9fe:a9fe]/",
    "http://2852039166/",  # 169.254.169.254 as one number
    "http://0xa9fea9fe/",
    "http://169.254.169.254./",
    "http://[fe80::1%25eth0]/",  # link-local with a zone
]
NOT_HOSTS = ["http://0.0.0.0/", "http://0/", "http://[::]/", "http://0.1.2.3/", "http://224.0.0.1/",
             "http://255.255.255.255/", "http://[ff02::1]/", "http://[::ffff:0.0.0.0]/"]
ALLOWED = ["http://10.1.2.3/hook", "http://192.168.1.5:8443/hook", "http://172.16.0.9/hook",
           "http://[::ffff:192.168.1.5]/hook", "http://[fd12:3456::5]/hook", "http://3232235781/hook"]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS + METADATA_SPELLINGS + NOT_HOSTS)
def test_every_spelling_of_an_internal_address_is_refused_at_save_and_at_delivery(url: str) -> None:
    with pytest.raises(TargetRefused, match="VOMEET_WEBHOOK_ALLOW_INTERNAL_TARGETS"):
        check_saved(url, allow_internal=False)
    with pytest.raises(TargetRefused):
        check_for_delivery(url, allow_internal=False)
    check_saved(url, allow_internal=True)  # an administrator may allow every target


@pytest.mark.parametrize("url", ALLOWED)
def test_lan_addresses_are_allowed_however_spelled(url: str) -> None:
    check_saved(url, allow_internal=False)
    target = check_for_delivery(url, allow_internal=False)
    assert target.address.is_private


def test_shorthand_is_read_as_the_c_library_reads_it() -> None:
    for spelling in ("127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.0.0.1."):
        assert parse_address(spelling) == ipaddress.IPv4Address(socket.inet_aton(spelling.rstrip(".")))
    assert parse_address("example.com") is None and parse_address("12.example") is None
    assert embedded_ipv4(ipaddress.IPv6Address("::ffff:10.0.0.1")) == ipaddress.IPv4Address("10.0.0.1")
    assert embedded_ipv4(ipaddress.IPv6Address("::1")) is None  # loopback itself, not a carrier


def test_delivery_goes_to_the_checked_address_with_the_name_kept() -> None:
    target = check_for_delivery("https://10.9.8.7:8443/path?q=1", allow_internal=False)
    assert target.pinned_url() == "https://10.9.8.7:8443/path?q=1"
    v6 = check_for_delivery("http://[fd00::7]/h", allow_internal=False)
    assert v6.pinned_url() == "http://[fd00::7]:80/h"


@pytest.mark.parametrize("url", ["http://[::ffff:127.0.0.1]:9/h", "http://127.1:9/h", "http://2130706433:9/h",
                                 "http://0x7f000001:9/h", "http://[::ffff:169.254.169.254]/"])
def test_the_api_refuses_them_when_saved(appliance: Appliance, url: str) -> None:
    _, token = appliance.new_user(f"ssrf{abs(hash(url))}@example.com")
    with appliance.client(token) as client:
        refused = client.put("/user/webhook", json={"webhook_url": url})
        assert refused.status_code == 422, refused.text
        assert "VOMEET_WEBHOOK_ALLOW_INTERNAL_TARGETS" in refused.json()["detail"]
        assert client.get("/user/webhook/deliveries").status_code == 200
