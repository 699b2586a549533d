"""One end of the namespace tests, run inside a network namespace with `ip netns exec`.

    python -m tests.discovery.mdns_peer appliance DATA_DIR   # the appliance's Discovery
    python -m tests.discovery.mdns_peer watch SERVICE_TYPE ADDRESS
    python -m tests.discovery.mdns_peer client DEVICE_ID ADDRESS
    python -m tests.discovery.mdns_peer resolve SERVICE_NAME ADDRESS
    python -m tests.discovery.mdns_peer fetch ADDRESS PORT   # the certificate, then a pinned /healthz

Each prints one JSON object a line (flushed) for the test to read, and ends on SIGTERM (the
appliance and the client with their goodbyes). The appliance reports its sink's calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
import ssl
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from appliance.config import Settings
from appliance.discovery.service import Discovery
from appliance.discovery.sightings import CLIENT_SERVICE_TYPE, ClientSighting
from appliance.service_manager import cancel
from tests.discovery.helpers import ServiceWatcher
from tests.tls_helpers import pinned_context


def say(**message: Any) -> None:
    print(json.dumps(message), flush=True)


class PrintingSink:
    async def client_seen(self, sighting: ClientSighting) -> None:
        say(seen={"device_id": sighting.device_id, "name": sighting.name, "version": sighting.version,
                  "addresses": list(sighting.addresses), "port": sighting.port})

    async def client_gone(self, device_id: str) -> None:
        say(gone=device_id)


def termination() -> asyncio.Event:
    """Set on SIGTERM; taken first thing, so a stop that comes early still says goodbye."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    return stop


async def appliance(data_dir: str) -> None:
    stop = termination()
    settings = Settings(data_dir=Path(data_dir), host="0.0.0.0", port=8056, tls="on", mdns_name="meeting-room",
                        mdns_poll_s=0.5)
    settings.ensure_dirs()
    discovery = Discovery.for_settings(settings, PrintingSink())
    await discovery.start()
    say(started=discovery.describe())
    await stop.wait()
    await discovery.stop()
    say(stopped=True)


async def watch(service_type: str, address: str) -> None:
    stop = termination()
    watcher = ServiceWatcher(service_type, [address])

    async def relay() -> None:
        while True:
            seen = await watcher.events.get()
            say(change=seen.change.name, name=seen.name, addresses=seen.addresses, txt=seen.properties)

    relaying = asyncio.create_task(relay())
    say(watching=service_type)
    await stop.wait()
    await cancel(relaying)
    await watcher.close()


async def client(device_id: str, address: str) -> None:
    stop = termination()
    aiozc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        CLIENT_SERVICE_TYPE, f"ana-laptop.{CLIENT_SERVICE_TYPE}", port=40123, server="ana-laptop.local.",
        properties={"txtvers": "1", "id": device_id, "name": "Ana's laptop", "ver": "0.3.0"},
        parsed_addresses=[address],
    )
    await (await aiozc.async_register_service(info))
    say(announced=info.name)
    await stop.wait()
    await (await aiozc.async_unregister_service(info))
    await aiozc.async_close()


async def resolve(name: str, address: str) -> None:
    """Ask the network, with an empty cache, where `name` is: what a desktop started now would get."""
    aiozc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    info = AsyncServiceInfo(name.split(".", 1)[1], name)
    found = await info.async_request(aiozc.zeroconf, 3000)
    say(resolved=found, addresses=info.parsed_addresses())
    await aiozc.async_close()


async def fetch(address: str, port: str) -> None:
    """A desktop's first contact with a box it found: the certificate it is served, then
    /healthz over a connection pinned to that certificate."""
    pem = await asyncio.to_thread(ssl.get_server_certificate, (address, int(port)), timeout=10)
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    url = f"https://{address}:{port}/healthz"
    async with httpx.AsyncClient(verify=pinned_context(pem), timeout=10) as http:
        answer = await http.get(url)
    say(fingerprint=fingerprint, healthz=answer.status_code)


ROLES: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {
    "appliance": appliance, "watch": watch, "client": client, "resolve": resolve, "fetch": fetch,
}

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format=f"{sys.argv[1]} %(name)s %(message)s")
    asyncio.run(ROLES[sys.argv[1]](*sys.argv[2:]))
