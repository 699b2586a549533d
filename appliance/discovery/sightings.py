"""What the appliance learns of a desktop client from its mDNS announcement.

The mDNS browser (appliance/discovery) produces these; the device registry (appliance/devices)
records them. Nothing in an announcement is trusted: it names a device that may ask to pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# The service type a desktop client announces (contract section 9); its TXT keys are
# `txtvers=1`, `id` (the device id, a UUID the client made), `name` and `ver`. Never a secret.
CLIENT_SERVICE_TYPE = "_vomeet-client._tcp.local."


@dataclass(frozen=True)
class ClientSighting:
    """One resolved announcement of a desktop client."""

    device_id: str
    name: str
    version: str
    addresses: tuple[str, ...]
    port: int
    seen_at: datetime


class SightingSink(Protocol):
    """Where the browser reports clients as they appear, change and leave."""

    async def client_seen(self, sighting: ClientSighting) -> None: ...

    async def client_gone(self, device_id: str) -> None: ...
