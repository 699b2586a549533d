"""The interface rule, fed the interfaces of a k3s box that this machine does not have."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Settings
from appliance.discovery.interfaces import InterfaceAddress, InterfaceRules, announceable, system_addresses

# What `ip -4 addr` shows on an appliance running k3s with Docker and a VPN, plus odd cases.
K3S_BOX = [
    InterfaceAddress("lo", "127.0.0.1"),
    InterfaceAddress("eth0", "192.168.1.40"),
    InterfaceAddress("eth0", "169.254.12.7"),  # link-local (no DHCP answer yet)
    InterfaceAddress("wlan0", "10.0.5.12"),
    InterfaceAddress("cni0", "10.42.0.1"),
    InterfaceAddress("flannel.1", "10.42.0.0"),
    InterfaceAddress("flannel-wg", "10.42.0.2"),
    InterfaceAddress("veth3a9c1f2", "10.42.0.9"),
    InterfaceAddress("docker0", "172.17.0.1"),
    InterfaceAddress("tun0", "10.8.0.6"),
    InterfaceAddress("cali7b1e2d9", "192.168.77.1"),
    InterfaceAddress("vxlan.calico", "192.168.77.0"),
    InterfaceAddress("kube-ipvs0", "10.43.0.1"),
    InterfaceAddress("br-5f3e2a", "172.18.0.1"),
    InterfaceAddress("virbr0", "192.168.122.1"),
    InterfaceAddress("eth1", "0.0.0.0"),
    InterfaceAddress("eth0", "not an address"),
]


def addresses(rules: InterfaceRules) -> list[str]:
    return [entry.address for entry in announceable(K3S_BOX, rules)]


def test_only_real_lan_interfaces_are_announced() -> None:
    assert addresses(InterfaceRules()) == ["192.168.1.40", "10.0.5.12"]  # sorted by interface


def test_loopback_only_when_asked() -> None:
    assert addresses(InterfaceRules(loopback=True)) == ["192.168.1.40", "127.0.0.1", "10.0.5.12"]


def test_an_allow_list_narrows_and_never_lets_a_container_interface_in() -> None:
    assert addresses(InterfaceRules(allow=("eth*",))) == ["192.168.1.40"]
    assert addresses(InterfaceRules(allow=("cni0", "docker0", "veth*"))) == []


def test_an_exclude_list_adds_to_the_built_in_one() -> None:
    assert addresses(InterfaceRules(exclude=("wlan*",))) == ["192.168.1.40"]


def test_a_server_bound_to_one_address_is_announced_there_only() -> None:
    assert addresses(InterfaceRules(bind_host="10.0.5.12")) == ["10.0.5.12"]
    assert addresses(InterfaceRules(bind_host="10.42.0.1")) == []  # a pod address: never
    assert addresses(InterfaceRules(bind_host="127.0.0.1")) == []  # loopback, not opted in
    assert addresses(InterfaceRules(bind_host="127.0.0.1", loopback=True)) == ["127.0.0.1"]


def test_the_rules_come_from_the_settings(tmp_path: Path) -> None:
    rules = InterfaceRules.from_settings(Settings(
        data_dir=tmp_path, host="0.0.0.0", mdns_interfaces=" eth0, wlan* ,", mdns_exclude_interfaces="wlan1",
        mdns_loopback=True,
    ))
    assert rules == InterfaceRules(allow=("eth0", "wlan*"), exclude=("wlan1",), loopback=True, bind_host="0.0.0.0")


def test_this_machines_interfaces_are_read_as_ipv4_by_name() -> None:
    found = system_addresses()
    assert InterfaceAddress("lo", "127.0.0.1") in found
    assert all(":" not in entry.address for entry in found)
