"""Finding appliances on the LAN: browse `_vomeet._tcp.local.` (contract section 9).

`ApplianceBrowser` runs python-zeroconf's own thread; it resolves each announcement into an
`ApplianceAd` and calls `on_found` (new or changed: an address change arrives as an Updated
record and is re-resolved, so the ad always carries the appliance's current addresses) and
`on_lost` (goodbye). The callbacks run on zeroconf's thread: a Qt window re-emits them as
signals. `find(appliance_id)` is what `client.api` asks when a known address stops answering.
`manual_ad("host:port")` is the fallback for a network where multicast does not pass.

Nothing in an announcement is trusted: the fingerprint in it is compared with the certificate
the address serves (`client.trust.first_contact`), and the pin decides from then on.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

from client.errors import ClientError, ErrorKind

log = logging.getLogger(__name__)

SERVICE_TYPE = "_vomeet._tcp.local."
DEFAULT_PORT = 8056
RESOLVE_TIMEOUT_MS = 3000
MANUAL_PREFIX = "manual:"


@dataclass(frozen=True)
class ApplianceAd:
    """One appliance as announced (or typed by hand): what the list of appliances shows."""

    id: str
    name: str
    version: str
    addresses: tuple[str, ...]
    port: int
    tls: bool
    fingerprint: str | None  # 64 lowercase hex when TLS is on; None for a manual address
    api_path: str = "/"
    ui_path: str = "/"

    @property
    def manual(self) -> bool:
        return self.id.startswith(MANUAL_PREFIX)

    def base_url(self, address: str | None = None) -> str:
        """The API's root at `address` (default: the first one), e.g. `https://192.0.2.7:8056/`."""
        host = address if address is not None else self.addresses[0]
        return url_for("https" if self.tls else "http", host, self.port, self.api_path)

    def console_url(self, address: str | None = None) -> str:
        host = address if address is not None else self.addresses[0]
        return url_for("https" if self.tls else "http", host, self.port, self.ui_path)


def parse_ad(
    instance: str, properties: Mapping[str, str | None], addresses: Sequence[str], port: int
) -> ApplianceAd | None:
    """The ad in a resolved announcement, or None when it is not one this client reads
    (no `id`, another `txtvers`, or no usable address)."""
    if properties.get("txtvers") != "1" or not properties.get("id"):
        return None
    usable = _usable(addresses)
    if not usable:
        return None
    tls = properties.get("tls") == "1"
    fingerprint = (properties.get("fp") or "").lower() or None
    return ApplianceAd(
        id=str(properties["id"]),
        name=instance_name(instance),
        version=properties.get("ver") or "",
        addresses=usable,
        port=port,
        tls=tls,
        fingerprint=fingerprint if tls else None,
        api_path=properties.get("api") or "/",
        ui_path=properties.get("ui") or "/",
    )


def instance_name(service_name: str) -> str:
    """`Front desk box._vomeet._tcp.local.` -> `Front desk box`."""
    suffix = "." + SERVICE_TYPE
    return service_name[: -len(suffix)] if service_name.endswith(suffix) else service_name


def manual_ad(text: str) -> ApplianceAd:
    """An appliance at an address typed by hand: `host`, `host:port`, `[v6]:port` or a URL.

    It is taken to speak HTTPS (the LAN port does, whenever TLS is on; an `http://` URL says
    otherwise); its fingerprint is unknown until the first contact fetches its certificate."""
    text = text.strip()
    parts = urlsplit(text if "//" in text else f"https://{text}")
    not_an_address = ClientError(
        ErrorKind.PROTOCOL, f"{text!r} is not an address: write host:port, e.g. 192.0.2.7:8056"
    )
    try:
        host, port = parts.hostname, parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise not_an_address from exc
    if not host:
        raise not_an_address
    return ApplianceAd(
        id=f"{MANUAL_PREFIX}{host}:{port}", name=host, version="", addresses=(host,), port=port,
        tls=parts.scheme != "http", fingerprint=None, api_path=parts.path or "/",
    )


class ApplianceBrowser:
    """Browses for appliances until `stop()`; `appliances()` is the current list."""

    def __init__(
        self,
        on_found: Callable[[ApplianceAd], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
        interfaces: Sequence[str] | None = None,
    ) -> None:
        self._on_found = on_found
        self._on_lost = on_lost
        self._interfaces = list(interfaces) if interfaces is not None else None
        self._lock = threading.Lock()
        self._by_name: dict[str, ApplianceAd] = {}
        self._zeroconf: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None

    def start(self) -> None:
        if self._interfaces is None:
            self._zeroconf = Zeroconf(ip_version=IPVersion.All)
        else:
            self._zeroconf = Zeroconf(interfaces=self._interfaces)
        self._browser = ServiceBrowser(self._zeroconf, SERVICE_TYPE, handlers=[self._changed])

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.cancel()
        if self._zeroconf is not None:
            self._zeroconf.close()
        self._browser = self._zeroconf = None

    def appliances(self) -> list[ApplianceAd]:
        with self._lock:
            return sorted(self._by_name.values(), key=lambda ad: ad.name.lower())

    def find(self, appliance_id: str) -> ApplianceAd | None:
        with self._lock:
            return next((ad for ad in self._by_name.values() if ad.id == appliance_id), None)

    def _changed(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        # Runs on the browser's thread, where a blocking resolve is what zeroconf's examples do.
        if state_change is ServiceStateChange.Removed:
            with self._lock:
                gone = self._by_name.pop(name, None)
            if gone is not None and self._on_lost is not None:
                self._on_lost(gone.id)
            return
        info = ServiceInfo(service_type, name)
        if not info.request(zeroconf, RESOLVE_TIMEOUT_MS):
            log.info("could not resolve %s", name)
            return
        ad = parse_ad(name, info.decoded_properties, info.parsed_scoped_addresses(), info.port or 0)
        if ad is None:
            log.info("ignoring %s: not a vomeet appliance announcement this client reads", name)
            return
        with self._lock:
            unchanged = self._by_name.get(name) == ad
            self._by_name[name] = ad
        if not unchanged and self._on_found is not None:
            self._on_found(ad)


def _usable(addresses: Sequence[str]) -> tuple[str, ...]:
    """IPv4 first, then IPv6; without link-local (needs a scope a URL cannot carry well) or
    unspecified addresses, as Home Assistant's discovery does."""
    kept: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if address.is_link_local or address.is_unspecified or address in kept:
            continue
        kept.append(address)
    kept.sort(key=lambda address: address.version)
    return tuple(str(address) for address in kept)


def url_for(scheme: str, host: str, port: int, path: str) -> str:
    """`scheme://host:port/path`, with an IPv6 host in brackets."""
    bracketed = f"[{host}]" if ":" in host else host
    return f"{scheme}://{bracketed}:{port}{path if path.startswith('/') else '/' + path}"
