"""The appliance's LAN addresses: what people type in, and what discovery may announce."""

from __future__ import annotations

import socket

import psutil

# Container and tunnel interfaces are reachable only from inside the box (contract section 9).
INTERNAL_INTERFACE_PREFIXES = ("lo", "cni", "flannel", "veth", "docker", "tun", "br-", "virbr", "kube")


def lan_ipv4_addresses() -> list[str]:
    addresses = []
    for name, entries in psutil.net_if_addrs().items():
        if name.startswith(INTERNAL_INTERFACE_PREFIXES):
            continue
        for entry in entries:
            if entry.family == socket.AF_INET and not entry.address.startswith(("127.", "169.254.")):
                addresses.append(entry.address)
    return sorted(set(addresses))
