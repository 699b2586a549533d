"""Which addresses webhooks may be sent to.

The appliance lives on a LAN, so private addresses are normal targets. Loopback, link-local
(which includes the 169.254.169.254 metadata service), unspecified, multicast and reserved
addresses, and known metadata endpoints, are refused unless an administrator allows internal
targets.

Every check goes through one normalisation, at save and at delivery alike: a host is read the
way the C library's resolver would read it (so `127.1`, `2130706433`, `0x7f000001` and `0177.0.0.1`
are all 127.0.0.1), an IPv6 address that carries an IPv4 address (mapped `::ffff:a.b.c.d`,
compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4, Teredo) is judged by that
IPv4 address too, and a name is judged by every address it resolves to. At delivery the request
then goes to the address that was checked (the name is not resolved a second time), so a DNS
answer that changes in between cannot lead around the policy.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# What inet_aton reads as an IPv4 address: one to four parts, decimal, octal or hex.
_IPV4_SHORTHAND = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


class TargetRefused(ValueError):
    """The webhook URL points somewhere the policy forbids; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where to connect, and the name the request is addressed to."""

    url: str
    host: str
    port: int
    address: Address

    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (the Host header keeps the name)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return parts._replace(netloc=f"{literal}:{self.port}").geturl()


def parse_address(host: str) -> Address | None:
    """The address a host literal stands for, read as the resolver reads it; None for a name."""
    host = host.rstrip(".").lower()
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_SHORTHAND.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if any (and so where it may lead)."""
    if address.version == 4:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in prefix for prefix in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refused_reason(address: Address) -> str | None:
    """Why the policy refuses this address (None: allowed)."""
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = refused_reason(inner)
        return f"{reason} (as {inner}, carried in an IPv6 address)" if reason else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "not a host address"
    if address.version == 4 and address in _THIS_NETWORK:
        return "not a host address"
    return None


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise TargetRefused("the webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"the webhook URL's port is invalid ({exc})") from exc
    return parts.hostname, port


def _judge(host: str, address: Address) -> None:
    reason = refused_reason(address)
    if reason:
        shown = host if str(address) == host else f"{host} ({address})"
        raise TargetRefused(_message(shown, reason))


def _resolve(host: str, port: int) -> list[Address]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _addresses(host: str, port: int) -> list[Address]:
    """What the host stands for: its literal address, or every address its name resolves to.
    Raises socket.gaierror when a name does not resolve."""
    plain = host.rstrip(".")
    if plain == "localhost" or plain.endswith(".localhost"):
        return [ipaddress.ip_address("127.0.0.1")]  # whatever the hosts file says
    literal = parse_address(host)
    return [literal] if literal is not None else _resolve(host, port)


def check_saved(url: str, allow_internal: bool) -> None:
    """When the URL is saved: a literal is judged now; so is a name that resolves now (one that
    does not is judged at delivery, when the LAN's DNS may know it)."""
    host, port = _host_and_port(url)
    if allow_internal:
        return
    try:
        addresses = _addresses(host, port)
    except (socket.gaierror, UnicodeError):
        return
    for address in addresses:
        _judge(host, address)


def check_for_delivery(url: str, allow_internal: bool) -> Target:
    """At delivery: resolve once, judge every address, and return the one to connect to."""
    host, port = _host_and_port(url)
    try:
        addresses = _addresses(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc}") from exc
    if not allow_internal:
        for address in addresses:
            _judge(host, address)
    return Target(url, host, port, addresses[0])


def _message(host: str, reason: str) -> str:
    return (
        f"webhook target {host} is {reason}; use an address on your LAN, or ask an administrator "
        "to set VOMEET_WEBHOOK_ALLOW_INTERNAL_TARGETS=true"
    )
