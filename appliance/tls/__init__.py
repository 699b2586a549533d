"""The appliance's TLS: its own certificate (or an operator's), the pin clients keep, rotation.

`current_fingerprint` and `current_certificate_pem` are what mDNS (the TXT `fp`) and pairing
(the code) read; both make the box's certificate at first use. docs/tls.md describes it all.
"""

from __future__ import annotations

from appliance.config import Settings
from appliance.tls.fingerprint import fingerprint_of_der, fingerprint_of_pem, grouped, spki_sha256_base64
from appliance.tls.store import CertificateInfo, TlsError, TlsStore

__all__ = [
    "CertificateInfo", "TlsError", "TlsStore", "current_certificate_pem", "current_fingerprint",
    "fingerprint_of_der", "fingerprint_of_pem", "grouped", "spki_sha256_base64",
]


def current_fingerprint(settings: Settings) -> str | None:
    """Lowercase hex SHA-256 of the served certificate's DER (64 characters); None when TLS is off."""
    if not settings.tls_enabled:
        return None
    return TlsStore(settings).ensure()[0].fingerprint


def current_certificate_pem(settings: Settings) -> str | None:
    """The served (leaf) certificate in PEM; None when TLS is off."""
    if not settings.tls_enabled:
        return None
    return TlsStore(settings).ensure()[0].pem
