"""Finding desktop clients: browse `_vomeet-client._tcp`, resolve each, report it to the sink.

An announcement is anyone's to make, so its TXT is read defensively: a missing or malformed
value drops the announcement (with a debug line), long text is cut, and nothing here raises
into zeroconf's loop. A sink's own failure is logged and browsing goes on.

Changes are handed to the sink one at a time, in the order they came: a client that leaves
while its sighting is being written is then marked gone after that write, not before it.
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
from appliance.service_manager import cancel

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
        self._changes: asyncio.Queue[tuple[Zeroconf, str, str, ServiceStateChange]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._browser: AsyncServiceBrowser | None = None

    def start(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="mdns-clients")
        self._browser = AsyncServiceBrowser(
            self._aiozc.zeroconf, [CLIENT_SERVICE_TYPE], handlers=[self._on_change]
        )

    async def stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._worker is not None:
            await cancel(self._worker)
            self._worker = None

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        # Called in the event loop, and must not block it: the worker does the rest.
        self._changes.put_nowait((zeroconf, service_type, name, state_change))

    async def _work(self) -> None:
        while True:
            zeroconf, service_type, name, state_change = await self._changes.get()
            try:
                if state_change is ServiceStateChange.Removed:
                    await self._gone(name)
                else:
                    await self._resolve(zeroconf, service_type, name)
            except Exception:  # a name zeroconf cannot parse, say: that one is skipped, not the rest
                log.exception("mDNS: could not handle %s (%s)", name, state_change.name)

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
