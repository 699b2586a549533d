"""Which of the box's addresses mDNS may use: real LAN interfaces only.

`announceable` is a pure function of the interface data, so the rule is tested with made-up
interfaces (cni0, flannel.1, veth...) that a test machine does not have; `system_addresses`
reads the real ones with ifaddr.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import ifaddr

from appliance.config import Settings
from appliance.netinfo import CONTAINER_INTERFACE_PREFIXES

EVERY_ADDRESS = ("0.0.0.0", "::", "")  # bind addresses meaning "every interface"


@dataclass(frozen=True, order=True)
class InterfaceAddress:
    """One IPv4 address of one network interface."""

    interface: str
    address: str


@dataclass(frozen=True)
class InterfaceRules:
    """The settings that choose interfaces (VOMEET_MDNS_INTERFACES and friends)."""

    allow: tuple[str, ...] = ()  # empty: every interface not excluded
    exclude: tuple[str, ...] = ()
    loopback: bool = False
    bind_host: str = "0.0.0.0"  # the API's bind address: announce only what it listens on

    @classmethod
    def from_settings(cls, settings: Settings) -> InterfaceRules:
        return cls(
            allow=_patterns(settings.mdns_interfaces),
            exclude=_patterns(settings.mdns_exclude_interfaces),
            loopback=settings.mdns_loopback,
            bind_host=settings.host,
        )


def _patterns(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def is_container_interface(name: str) -> bool:
    return name.startswith(CONTAINER_INTERFACE_PREFIXES)


def _usable(entry: InterfaceAddress, rules: InterfaceRules) -> bool:
    try:
        address = ipaddress.IPv4Address(entry.address)
    except ValueError:
        return False
    if is_container_interface(entry.interface) or address.is_link_local or address.is_unspecified:
        return False
    if address.is_multicast:
        return False
    if address.is_loopback or entry.interface == "lo":
        return rules.loopback and address.is_loopback
    if rules.allow and not any(fnmatchcase(entry.interface, pattern) for pattern in rules.allow):
        return False
    return not any(fnmatchcase(entry.interface, pattern) for pattern in rules.exclude)


def announceable(entries: Iterable[InterfaceAddress], rules: InterfaceRules) -> tuple[InterfaceAddress, ...]:
    """The addresses to announce and listen on, sorted: a LAN interface's IPv4 addresses, never a
    container's or a tunnel's, loopback only when asked, and only those the API server listens on
    (all of them when it binds every interface, else the one it binds)."""
    chosen = sorted({entry for entry in entries if _usable(entry, rules)})
    if rules.bind_host not in EVERY_ADDRESS:
        chosen = [entry for entry in chosen if entry.address == rules.bind_host]
    return tuple(chosen)


def system_addresses() -> Sequence[InterfaceAddress]:
    """The box's IPv4 addresses now, by interface (the API binds IPv4 by default)."""
    return [
        InterfaceAddress(adapter.name, ip.ip)
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str)  # ifaddr gives IPv6 addresses as tuples
    ]
