"""A self-signed certificate for the box: an EC P-256 key and the names it is reached by."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.netinfo import lan_ipv4_addresses

# Long-lived: clients pin the certificate itself, so expiry only forces a rotation; ten years
# keeps a forgotten box working, and `vomeet tls rotate` replaces it whenever an operator wants.
VALIDITY = dt.timedelta(days=3650)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class KeyAndCertificate:
    key_pem: bytes
    cert_pem: bytes


def box_names() -> tuple[list[str], list[str]]:
    """The DNS names and addresses the certificate is made for: `<hostname>.local`, the
    hostname, `localhost`, loopback, and the LAN addresses the box has now."""
    host = socket.gethostname().split(".")[0] or "vomeet"
    dns = list(dict.fromkeys([f"{host}.local", host, "localhost"]))
    return dns, [*LOOPBACK_ADDRESSES, *lan_ipv4_addresses()]


def make_self_signed(dns_names: list[str], addresses: list[str]) -> KeyAndCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vomeet appliance"),
    ])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a client whose clock lags a little
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyAndCertificate(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
    )
