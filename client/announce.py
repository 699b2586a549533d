"""The client's own announcement: `_vomeet-client._tcp.local.` while it runs.

The appliance browses for it and lists the computer on its Devices page, so a person can see
which client is asking to pair. TXT: `txtvers=1`, `id` (the device id, a UUID the client keeps),
`name` (the computer's name as the person sees it) and `ver`. Never a secret: anyone on the LAN
reads it. The client listens on nothing, so the SRV port is 9 (discard), a placeholder.

API: `ClientAnnouncer(device_id, name, version).start()` ... `.stop()` (sends goodbyes).
`interfaces=["127.0.0.1"]` announces on loopback only (the tests); by default every LAN
interface but loopback and container or tunnel ones (docker0, cni0, flannel*, veth*, tun*).
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Sequence

import ifaddr
from zeroconf import ServiceInfo, Zeroconf

SERVICE_TYPE = "_vomeet-client._tcp.local."
PLACEHOLDER_PORT = 9
# Interfaces whose addresses mean nothing to another machine on the LAN.
NOT_LAN = re.compile(r"^(lo|docker\d*|cni\d*|flannel.*|veth.*|tun.*|tap.*|virbr.*|br-.*|podman.*)$")
NAME_BYTES = 63  # an instance name's DNS label limit


def lan_addresses() -> list[str]:
    """IPv4 and global IPv6 addresses of this computer's LAN interfaces."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        if NOT_LAN.match(adapter.nice_name):
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                found.append(ip.ip)
            elif not ip.ip[0].lower().startswith("fe80"):
                found.append(ip.ip[0])
    return found


def instance_label(name: str, device_id: str) -> str:
    """A DNS-SD instance label: the person's name for the computer and a short id, so two
    computers both called "laptop" do not collide; cut to 63 bytes."""
    label = f"{name} ({device_id[:8]})"
    while len(label.encode()) > NAME_BYTES:
        name = name[:-1]
        label = f"{name} ({device_id[:8]})"
    return label


class ClientAnnouncer:
    """Registers the client's service until `stop()`."""

    def __init__(
        self, device_id: str, name: str, version: str, interfaces: Sequence[str] | None = None
    ) -> None:
        uuid.UUID(device_id)  # a device id is a UUID: anything else is a bug in the caller
        self.device_id = device_id
        self._interfaces = list(interfaces) if interfaces is not None else None
        addresses = self._interfaces if self._interfaces is not None else lan_addresses()
        host = re.sub(r"[^a-z0-9-]", "-", socket.gethostname().lower()) or "vomeet-client"
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{instance_label(name, device_id)}.{SERVICE_TYPE}",
            port=PLACEHOLDER_PORT,
            properties={"txtvers": "1", "id": device_id, "name": name[:100], "ver": version},
            parsed_addresses=addresses,
            server=f"{host}-{device_id[:8]}.local.",
        )
        self._zeroconf: Zeroconf | None = None

    def start(self) -> None:
        self._zeroconf = Zeroconf(interfaces=self._interfaces) if self._interfaces is not None else Zeroconf()
        # A name taken by another computer gets a suffix instead of failing.
        self._zeroconf.register_service(self.info, allow_name_change=True)

    def stop(self) -> None:
        if self._zeroconf is None:
            return
        self._zeroconf.unregister_service(self.info)  # the goodbye: browsers drop it at once
        self._zeroconf.close()
        self._zeroconf = None
