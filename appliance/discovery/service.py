"""mDNS for the running appliance: one AsyncZeroconf that announces the box and browses for
desktop clients, kept in step with the box's addresses and certificate.

Started once the API listens (an announcement must lead somewhere), stopped before it closes.
Every `mdns_poll_s` it reads the interfaces and the fingerprint; a change of addresses moves
the sockets (`async_update_interfaces`) and re-announces, a change of TXT (a rotated
certificate) updates the records in place. With no LAN address it announces nothing and waits
for one. What it announces is written to `<data_dir>/run/mdns.json` for `vomeet doctor`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

from appliance import __version__
from appliance.config import Settings
from appliance.discovery.announcer import Announcer
from appliance.discovery.browser import ClientBrowser
from appliance.discovery.identity import appliance_id
from appliance.discovery.interfaces import InterfaceAddress, InterfaceRules, announceable, system_addresses
from appliance.discovery.records import Service, instance_name, services
from appliance.discovery.sightings import SightingSink
from appliance.discovery.status import STATE_FILE
from appliance.service_manager import cancel

log = logging.getLogger(__name__)


class Discovery:
    def __init__(
        self,
        settings: Settings,
        fingerprint: Callable[[], str | None],
        sink: SightingSink | None = None,
        addresses: Callable[[], Sequence[InterfaceAddress]] = system_addresses,
    ) -> None:
        self._settings = settings
        self._fingerprint = fingerprint
        self._sink = sink  # None: announce only (nothing records clients yet)
        self._read_addresses = addresses
        self._rules = InterfaceRules.from_settings(settings)
        self._id = appliance_id(settings)
        self._instance = instance_name(settings.mdns_name)
        self._aiozc: AsyncZeroconf | None = None
        self._announcer: Announcer | None = None
        self._browser: ClientBrowser | None = None
        self._chosen: tuple[InterfaceAddress, ...] = ()
        self._monitor: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._published: dict[str, Any] | None = None

    @classmethod
    def for_settings(cls, settings: Settings, sink: SightingSink | None = None) -> Discovery:
        from appliance.tls import current_fingerprint

        return cls(settings, partial(current_fingerprint, settings), sink)

    @property
    def state_path(self) -> Path:
        return self._settings.state_dir / STATE_FILE

    async def start(self) -> None:
        """Announce now (when there is an address), then keep watching, even if this first try
        failed: the next poll tries again."""
        await self._refresh_or_log()
        self._monitor = asyncio.create_task(self._watch(), name="mdns-monitor")

    async def stop(self) -> None:
        if self._monitor is not None:
            await cancel(self._monitor)
            self._monitor = None
        async with self._lock:
            await self._close()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._settings.mdns_poll_s)
            await self._refresh_or_log()

    async def _refresh_or_log(self) -> None:
        try:
            await self.refresh()
        except Exception:  # a passing failure (an address gone mid-bind): the next poll retries
            log.exception("mDNS: could not bring the announcement up to date")

    def _now(self) -> tuple[tuple[InterfaceAddress, ...], tuple[Service, ...]]:
        chosen = announceable(self._read_addresses(), self._rules)
        return chosen, services(self._id, __version__, self._fingerprint())

    async def refresh(self) -> None:
        """Announce what is true now: the usable addresses and the current TXT."""
        async with self._lock:
            chosen, wanted = await asyncio.to_thread(self._now)
            addresses = [entry.address for entry in chosen]
            if not addresses:
                if self._aiozc is not None:
                    log.warning("mDNS: no LAN address left to announce on; withdrawing until one comes back")
                    await self._close()
                elif self._monitor is None:  # the first look, at start
                    log.info("mDNS: no LAN interface to announce on (see docs/discovery.md); waiting for one")
                return
            moved = chosen != self._chosen
            if self._aiozc is None:
                await self._open(addresses)
            assert self._aiozc is not None and self._announcer is not None
            # The records first, so the re-announcement that moving the sockets makes carries
            # the new addresses.
            await self._announcer.announce(wanted, self._settings.port, addresses)
            if moved and self._chosen:
                await self._aiozc.async_update_interfaces(addresses)
                log.info("mDNS: now on %s", ", ".join(f"{e.address} ({e.interface})" for e in chosen))
            self._chosen = chosen
            self._publish()

    async def _open(self, addresses: list[str]) -> None:
        self._aiozc = AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
        self._announcer = Announcer(self._aiozc, self._instance, f"{self._id}.local.")
        if self._sink is not None:
            self._browser = ClientBrowser(self._aiozc, self._sink)
            self._browser.start()

    async def _close(self) -> None:
        if self._browser is not None:
            await self._browser.stop()
            self._browser = None
        if self._announcer is not None:
            await self._announcer.withdraw()
            self._announcer = None
        if self._aiozc is not None:
            await self._aiozc.async_close()
            self._aiozc = None
        self._chosen = ()
        self.state_path.unlink(missing_ok=True)
        self._published = None

    def describe(self) -> dict[str, Any]:
        """What is announced now, as `vomeet doctor` shows it."""
        registered = self._announcer.registered if self._announcer is not None else []
        return {
            "pid": os.getpid(),  # doctor tells a live run's file from one a killed run left
            "id": self._id,
            "addresses": [{"interface": e.interface, "address": e.address} for e in self._chosen],
            "services": [
                {"type": r.info.type, "name": r.info.name, "port": r.port, "txt": r.properties} for r in registered
            ],
            "browsing": self._browser is not None,
        }

    def _publish(self) -> None:
        """Write the state file when what is announced changed (not every poll: an SD card wears)."""
        described = self.describe()
        if described != self._published:
            self.state_path.write_text(json.dumps(described, indent=2), encoding="utf-8")
            self._published = described


class DiscoveryRun:
    """`vomeet serve`'s mDNS: begun once the API port listens (probing takes a second and a half,
    so in the background, not holding up the start), ended before the port closes (goodbyes)."""

    def __init__(self, settings: Settings, sink: Callable[[], SightingSink | None]) -> None:
        self._settings = settings
        self._sink = sink  # read at begin: the registry is made by the app's start-up
        self._discovery: Discovery | None = None
        self._starting: asyncio.Task[None] | None = None

    def begin(self) -> None:
        if not self._settings.mdns:
            log.info("mDNS: off (VOMEET_MDNS=false); the appliance is not announced")
            return
        self._discovery = Discovery.for_settings(self._settings, self._sink())
        # start() logs a failure and keeps trying; the API serves on either way.
        self._starting = asyncio.create_task(self._discovery.start(), name="mdns-start")

    async def end(self) -> None:
        if self._starting is not None:
            await cancel(self._starting)
        if self._discovery is not None:
            await self._discovery.stop()
