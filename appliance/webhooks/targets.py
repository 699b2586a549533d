"""Which addresses webhooks may be sent to.

The appliance lives on a LAN, so private addresses are normal targets. Loopback, link-local
(which includes the 169.254.169.254 metadata service), unspecified and multicast addresses, and
known metadata endpoints, are refused unless an administrator allows internal targets.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}


class TargetRefused(ValueError):
    """The webhook URL points somewhere the policy forbids; the message says why and what to do."""


def _refused_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast:
        return "not a host address"
    return None


def check_literal(url: str, allow_internal: bool) -> None:
    """Early check when the URL is saved: names are resolved only at delivery time."""
    host = urlsplit(url).hostname
    if not host:
        raise TargetRefused("the webhook URL has no host")
    if allow_internal:
        return
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise TargetRefused(_message(host, "a loopback address"))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = _refused_reason(address)
    if reason:
        raise TargetRefused(_message(host, reason))


def check_resolved(url: str, allow_internal: bool) -> None:
    """At delivery: every address the name resolves to must be allowed."""
    check_literal(url, allow_internal)
    if allow_internal:
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        reason = _refused_reason(address)
        if reason:
            raise TargetRefused(_message(f"{parts.hostname} ({address})", reason))


def _message(host: str, reason: str) -> str:
    return (
        f"webhook target {host} is {reason}; use an address on your LAN, or ask an administrator "
        "to set VOMEET_WEBHOOK_ALLOW_INTERNAL_TARGETS=true"
    )
