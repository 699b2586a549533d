"""The appliance's mDNS registrations, brought in line with what should be announced.

Each service is registered once (probing first; `allow_name_change` gives a taken name a `-2`
suffix), then updated in place under the name it got, so a browser sees `Updated` rather than a
service leaving and another arriving; withdrawing sends the goodbye packets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from appliance.discovery.records import Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    info: AsyncServiceInfo
    properties: dict[str, str]
    port: int
    addresses: tuple[str, ...]


class Announcer:
    def __init__(self, aiozc: AsyncZeroconf, instance: str, server: str) -> None:
        self._aiozc = aiozc
        self._instance = instance
        self._server = server  # the SRV target host, `<appliance id>.local.`
        self._registered: dict[str, Registered] = {}  # by service type

    @property
    def registered(self) -> list[Registered]:
        return list(self._registered.values())

    def _info(self, service: Service, name: str, port: int, addresses: Sequence[str]) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            service.type, name, port=port, properties=service.properties,
            server=self._server, parsed_addresses=list(addresses),
        )

    async def announce(self, wanted: Sequence[Service], port: int, addresses: Sequence[str]) -> None:
        """Register what is new, update what changed, unregister what is no longer wanted; the
        services at once, as each registration's probing takes a second and a half."""
        shown = tuple(addresses)
        await asyncio.gather(*(self._bring_up(service, port, shown) for service in wanted))
        unwanted = set(self._registered) - {service.type for service in wanted}
        await asyncio.gather(*(self._unregister(service_type) for service_type in unwanted))

    async def _bring_up(self, service: Service, port: int, shown: tuple[str, ...]) -> None:
        current = self._registered.get(service.type)
        if current is None:
            info = self._info(service, f"{self._instance}.{service.type}", port, shown)
            await (await self._aiozc.async_register_service(info, allow_name_change=True))
            log.info("mDNS: announcing %s on %s port %d", info.name, ", ".join(shown), port)
        elif (current.properties, current.port, current.addresses) != (service.properties, port, shown):
            info = self._info(service, current.info.name, port, shown)
            await (await self._aiozc.async_update_service(info))
            log.info("mDNS: updated %s: %s port %d", info.name, ", ".join(shown), port)
        else:
            return
        self._registered[service.type] = Registered(info, dict(service.properties), port, shown)

    async def _unregister(self, service_type: str) -> None:
        gone = self._registered.pop(service_type)
        await (await self._aiozc.async_unregister_service(gone.info))
        log.info("mDNS: withdrew %s", gone.info.name)

    async def withdraw(self) -> None:
        """Goodbye packets for every registration (TTL 0), so browsers drop the box at once."""
        await asyncio.gather(*(self._unregister(service_type) for service_type in list(self._registered)))
