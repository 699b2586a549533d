"""The appliance's LAN addresses: what people type in, and what discovery may announce."""

from __future__ import annotations

import socket

import psutil

# Container and tunnel interfaces are reachable only from inside the box (contract section 9):
# k3s's cni0/flannel.1/kube-ipvs0 and veth pairs, Calico's cali*, VXLAN overlays, Docker, VPNs.
CONTAINER_INTERFACE_PREFIXES = ("cni", "flannel", "veth", "docker", "tun", "br-", "virbr", "kube", "cali", "vxlan")
INTERNAL_INTERFACE_PREFIXES = ("lo", *CONTAINER_INTERFACE_PREFIXES)


def lan_ipv4_addresses() -> list[str]:
    addresses = []
    for name, entries in psutil.net_if_addrs().items():
        if name.startswith(INTERNAL_INTERFACE_PREFIXES):
            continue
        for entry in entries:
            if entry.family == socket.AF_INET and not entry.address.startswith(("127.", "169.254.")):
                addresses.append(entry.address)
    return sorted(set(addresses))


def reachable_base_url(host: str, port: int, public_url: str | None, scheme: str = "http") -> tuple[str, str]:
    """The base URL to hand to people, and who can open it: `public_url` when configured; the
    box's first LAN address when the server listens on every interface; otherwise the address
    it listens on, which on loopback only this machine can reach. `scheme` is https when the
    port speaks TLS (docs/tls.md)."""
    if public_url:
        return public_url, "configured"
    if host in ("0.0.0.0", "::", ""):
        lan = lan_ipv4_addresses()
        if lan:
            return f"{scheme}://{lan[0]}:{port}", "lan"
        return f"{scheme}://127.0.0.1:{port}", "this_machine"
    literal = f"[{host}]" if ":" in host else host
    loopback = host == "localhost" or host.startswith("127.") or host == "::1"
    return f"{scheme}://{literal}:{port}", "this_machine" if loopback else "lan"
