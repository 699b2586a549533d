"""What the appliance announces: service types, its instance name and the TXT record (contract
section 9). Pure functions of the settings and the facts given, so the byte limits are unit-tested."""

from __future__ import annotations

import socket
from dataclasses import dataclass

APPLIANCE_SERVICE_TYPE = "_vomeet._tcp.local."
HTTPS_SERVICE_TYPE = "_https._tcp.local."  # the console, for generic Bonjour browsers
HTTP_SERVICE_TYPE = "_http._tcp.local."
TXT_VERSION = "1"
API_PATH = "/"
CONSOLE_PATH = "/ui"  # admin_ui.web.PREFIX (appliance/ does not import the console)

MAX_LABEL_BYTES = 63  # a DNS label, which the instance name is
MAX_TXT_ENTRY_BYTES = 255  # one key=value string (RFC 6763 section 6.1)
TXT_BUDGET_BYTES = 200  # the whole record should stay about this small (RFC 6763 section 6.2)


class TxtTooLarge(ValueError):
    """A TXT entry or the whole record is over the limits mDNS responders and browsers keep to."""


@dataclass(frozen=True)
class Service:
    """One service to announce: its type and TXT; the name, port and addresses are shared."""

    type: str
    properties: dict[str, str]


def console_service_type(tls: bool) -> str:
    return HTTPS_SERVICE_TYPE if tls else HTTP_SERVICE_TYPE


def instance_name(configured: str | None) -> str:
    """The instance label: the configured name or the host name, without dots (python-zeroconf
    does not escape them, so a dot would split the label) and cut to 63 bytes of UTF-8."""
    raw = (configured or socket.gethostname().split(".")[0] or "vomeet").replace(".", " ").strip()
    cut = raw.encode("utf-8")[:MAX_LABEL_BYTES].decode("utf-8", errors="ignore").strip()
    return cut or "vomeet"


def txt_size(properties: dict[str, str]) -> int:
    """Bytes on the wire: each entry is one length byte and its key=value."""
    return sum(1 + len(f"{key}={value}".encode()) for key, value in properties.items())


def checked_txt(properties: dict[str, str]) -> dict[str, str]:
    """`properties` unchanged, or TxtTooLarge naming the entry or the total that is too long."""
    for key, value in properties.items():
        entry = len(f"{key}={value}".encode())
        if entry > MAX_TXT_ENTRY_BYTES:
            raise TxtTooLarge(f"TXT entry {key!r} is {entry} bytes; one entry holds at most {MAX_TXT_ENTRY_BYTES}")
    total = txt_size(properties)
    if total > TXT_BUDGET_BYTES:
        raise TxtTooLarge(f"the TXT record is {total} bytes; keep it within {TXT_BUDGET_BYTES}")
    return properties


def appliance_txt(appliance_id: str, version: str, fingerprint: str | None) -> dict[str, str]:
    """`_vomeet._tcp`'s TXT: `txtvers` first, `fp` (the certificate pin) only with TLS on."""
    properties = {
        "txtvers": TXT_VERSION, "id": appliance_id, "ver": version,
        "api": API_PATH, "ui": CONSOLE_PATH, "tls": "1" if fingerprint else "0",
    }
    if fingerprint:
        properties["fp"] = fingerprint
    return checked_txt(properties)


def services(appliance_id: str, version: str, fingerprint: str | None) -> tuple[Service, ...]:
    """The appliance's service and its console's (`path` is the Bonjour key for a web page)."""
    return (
        Service(APPLIANCE_SERVICE_TYPE, appliance_txt(appliance_id, version, fingerprint)),
        Service(console_service_type(fingerprint is not None), checked_txt({"path": CONSOLE_PATH})),
    )
