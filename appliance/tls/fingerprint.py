"""Certificate fingerprints: the one pin format every part of the appliance uses.

The fingerprint is the lowercase hex SHA-256 of the certificate's DER bytes (64 characters), as
the mDNS TXT `fp`, the pairing code and `GET /tls` carry it; people see it grouped in pairs
(`ab:cd:...`, upper case), the way browsers and `openssl x509 -fingerprint` show it.
"""

from __future__ import annotations

import base64
import hashlib
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def fingerprint_of_der(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def fingerprint_of_pem(pem: str) -> str:
    return fingerprint_of_der(ssl.PEM_cert_to_DER_cert(pem))


def grouped(fingerprint: str) -> str:
    """`AB:CD:...`: the form shown to people (console, doctor, first start, `vomeet tls show`)."""
    upper = fingerprint.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def spki_sha256_base64(pem: str) -> str:
    """Base64 SHA-256 of the certificate's public key (SPKI), the pin Chromium's
    `--ignore-certificate-errors-spki-list` and HPKP-style pinning take."""
    key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")
