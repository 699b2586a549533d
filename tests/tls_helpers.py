"""Talking to an appliance over HTTPS the way its clients do: by pinning its certificate.

`pinned_context(pem, ...)` trusts exactly the given certificates (each one a trust anchor, even a
CA-issued leaf: VERIFY_X509_PARTIAL_CHAIN) and checks no host name (clients pin the certificate,
not an address). `pinned_client` is an httpx client built on it; nothing here turns verification
off. `start_tls_appliance` runs a real `vomeet serve` with TLS forced on, on loopback.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Appliance, appliance_env, free_port


def pinned_context(*pems: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the pin is the check; addresses change on a LAN
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata="".join(pems))
    return context


def pinned_client(base_url: str, *pems: str, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 30)
    return httpx.Client(base_url=base_url, verify=pinned_context(*pems), **kwargs)


def served_pem(port: int, host: str = "127.0.0.1") -> str:
    """The certificate a server presents on the wire (fetched without trusting it, as a client's
    first contact does before comparing it with the fingerprint it was told)."""
    return ssl.get_server_certificate((host, port), timeout=10)


@dataclass
class TlsAppliance:
    """A `vomeet serve` with TLS on: HTTPS on `https_port`, plain HTTP on loopback at `app.port`
    (so `app.base_url`, `app.admin()` and the health wait use the loopback listener)."""

    app: Appliance
    https_port: int

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def certificate_pem(self) -> str:
        """The certificate the box keeps on disk (what a client is told to pin, by the TXT `fp`
        or the console), read apart from the wire."""
        return (self.app.data_dir / "tls" / "current" / "cert.pem").read_text("ascii")

    def pinned(self, *pems: str, **kwargs: Any) -> httpx.Client:
        """An HTTPS client pinning `pems` (by default the box's own certificate)."""
        return pinned_client(self.https_url, *(pems or (self.certificate_pem(),)), **kwargs)


def start_tls_appliance(data_dir: Path, **settings: str) -> TlsAppliance:
    https_port, loopback_port = free_port(), free_port()
    env = appliance_env(data_dir, https_port, tls="on", loopback_port=str(loopback_port), **settings)
    return TlsAppliance(Appliance(data_dir, env, loopback_port).start(), https_port)
