"""Finding desktop clients: browse `_vomeet-client._tcp`, resolve each, report it to the sink.

An announcement is anyone's to make, so its TXT is read defensively: a missing or malformed
value drops the announcement (with a debug line), long text is cut, and nothing here raises
into zeroconf's loop. A sink's own failure is logged and browsing goes on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from appliance.discovery.sightings import CLIENT_SERVICE_TYPE, ClientSighting, SightingSink

log = logging.getLogger(__name__)
RESOLVE_TIMEOUT_MS = 3000
MAX_NAME_CHARS = 64
MAX_VERSION_CHARS = 32


def _text(properties: Mapping[bytes, bytes | None], key: bytes, limit: int) -> str | None:
    raw = properties.get(key)
    if raw is None:
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = "".join(ch for ch in value if ch.isprintable()).strip()
    return printable[:limit] or None


def _reachable(address: str) -> bool:
    parsed = ipaddress.ip_address(address.split("%")[0])
    return not (parsed.is_link_local or parsed.is_unspecified or parsed.is_multicast)


def sighting_from(
    properties: Mapping[bytes, bytes | None], addresses: list[str], port: int | None, seen_at: datetime
) -> ClientSighting | str:
    """The sighting a client's TXT and addresses describe, or why they describe none."""
    if _text(properties, b"txtvers", 8) != "1":
        return "no txtvers=1"
    raw_id = _text(properties, b"id", 64)
    try:
        device_id = str(uuid.UUID(raw_id or ""))
    except ValueError:
        return f"id {raw_id!r} is not a UUID"
    usable = tuple(sorted(address for address in addresses if _reachable(address)))
    if not usable or not port:
        return "no usable address or port"
    return ClientSighting(
        device_id=device_id,
        name=_text(properties, b"name", MAX_NAME_CHARS) or "unnamed device",
        version=_text(properties, b"ver", MAX_VERSION_CHARS) or "unknown",
        addresses=usable,
        port=port,
        seen_at=seen_at,
    )


class ClientBrowser:
    """Reports the desktop clients on the LAN to a SightingSink while it runs."""

    def __init__(self, aiozc: AsyncZeroconf, sink: SightingSink) -> None:
        self._aiozc = aiozc
        self._sink = sink
        self._devices: dict[str, str] = {}  # service name -> device id, for Removed
        self._tasks: set[asyncio.Task[None]] = set()
        self._browser: AsyncServiceBrowser | None = None

    def start(self) -> None:
        self._browser = AsyncServiceBrowser(
            self._aiozc.zeroconf, [CLIENT_SERVICE_TYPE], handlers=[self._on_change]
        )

    async def stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        # Called in the event loop, and must not block it: the work runs in a task of its own.
        if state_change is ServiceStateChange.Removed:
            work = self._gone(name)
        else:
            work = self._resolve(zeroconf, service_type, name)
        task = asyncio.get_running_loop().create_task(work, name=f"mdns-client {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, zeroconf: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not info.load_from_cache(zeroconf) and not await info.async_request(zeroconf, RESOLVE_TIMEOUT_MS):
            log.debug("mDNS: %s did not resolve", name)
            return
        found = sighting_from(info.properties, info.parsed_scoped_addresses(), info.port, datetime.now(UTC))
        if isinstance(found, str):
            log.debug("mDNS: ignoring %s: %s", name, found)
            return
        self._devices[name] = found.device_id
        try:
            await self._sink.client_seen(found)
        except Exception:
            log.exception("the device registry failed on a sighting of %s", found.device_id)

    async def _gone(self, name: str) -> None:
        device_id = self._devices.pop(name, None)
        if device_id is None or device_id in self._devices.values():
            return  # never resolved, or the device still announces under another name
        try:
            await self._sink.client_gone(device_id)
        except Exception:
            log.exception("the device registry failed on %s leaving", device_id)
