"""Both ends of mDNS for the tests: a browser that queues what it sees, a sink that queues what
the appliance's client browser reports, and python-zeroconf's own way of keeping a test off the
real mDNS port (its `run_isolated`, with a port of the test's own so parallel runs never meet).

The patch reaches what zeroconf reads at run time (where it listens, where responses go), not
the port its browser and resolver bind as a default argument: they still ask on 5353, where
another program on this machine may answer by unicast. The watcher passes its port; a sink's
reader picks the device it expects."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

from zeroconf import IPVersion, ServiceStateChange, Zeroconf, _core, const
from zeroconf._handlers import query_handler
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from appliance.discovery.sightings import ClientSighting

EVENT_TIMEOUT_S = 10.0


@contextlib.contextmanager
def isolated_mdns_port(port: int | None = None) -> Iterator[int]:
    if port is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
    with (
        patch.object(query_handler, "_MDNS_PORT", port),
        patch.object(_core, "_MDNS_PORT", port),
        patch.object(const, "_MDNS_PORT", port),
    ):
        yield port


@dataclass(frozen=True)
class Seen:
    change: ServiceStateChange
    name: str
    properties: dict[str, str | None]
    addresses: list[str]
    port: int | None


class ServiceWatcher:
    """Browses one service type the way a desktop client does; each event, resolved, goes in a queue.

    `of`: keep only instances whose name starts with it. Other tests on this machine announce on
    loopback too (and answer on 5353 by unicast), as other boxes would on a LAN."""

    def __init__(self, service_type: str, interfaces: list[str], port: int = const._MDNS_PORT, of: str = "") -> None:
        self.type = service_type
        self.port = port
        self.of = of
        self.aiozc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        self.events: asyncio.Queue[Seen] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._browser = AsyncServiceBrowser(
            self.aiozc.zeroconf, [service_type], handlers=[self._on_change], port=port
        )

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if not name.startswith(self.of):
            return
        task = asyncio.get_running_loop().create_task(self._report(zeroconf, name, state_change))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, zeroconf: Zeroconf, name: str, change: ServiceStateChange) -> None:
        info = AsyncServiceInfo(self.type, name)
        if change is not ServiceStateChange.Removed:
            # Asked on the wire, not read from the cache: what the network says now.
            await info.async_request(zeroconf, 3000, port=self.port)
        await self.events.put(Seen(change, name, dict(info.decoded_properties), info.parsed_addresses(), info.port))

    async def next(self, *wanted: ServiceStateChange, where: Any = None) -> Seen:
        """The next event of a kind in `wanted` (and for which `where` holds); fails after a deadline."""
        async def find() -> Seen:
            while True:
                seen = await self.events.get()
                if seen.change in wanted and (where is None or where(seen)):
                    return seen

        try:
            return await asyncio.wait_for(find(), EVENT_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"no {wanted} event for {self.type} within {EVENT_TIMEOUT_S:.0f} s") from None

    async def close(self) -> None:
        await self._browser.async_cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.aiozc.async_close()


class RecordingSink:
    """A SightingSink that queues what it is told (the device registry's place in these tests)."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[ClientSighting | str] = asyncio.Queue()

    async def client_seen(self, sighting: ClientSighting) -> None:
        await self.calls.put(sighting)

    async def client_gone(self, device_id: str) -> None:
        await self.calls.put(device_id)

    async def next(self, device_id: str) -> ClientSighting | str:
        """The next call about `device_id`: its sighting, or the id itself when it left."""
        async def find() -> ClientSighting | str:
            while True:
                call = await self.calls.get()
                if call == device_id or (isinstance(call, ClientSighting) and call.device_id == device_id):
                    return call

        try:
            return await asyncio.wait_for(find(), EVENT_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"the sink heard nothing of {device_id} within {EVENT_TIMEOUT_S:.0f} s") from None
