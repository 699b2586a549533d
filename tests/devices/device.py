"""A desktop client's side of pairing, written from docs/pairing.md alone (it imports nothing of
the appliance), so the tests check the appliance against the protocol, not against itself."""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import uuid
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def fingerprint_of(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


@dataclass
class Device:
    name: str = "Test laptop"
    device_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    nonce: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def ask(self, client: httpx.Client) -> httpx.Response:
        return client.post("/devices/pair", json={
            "device_id": self.device_id, "name": self.name, "version": "0.1.0",
            "public_key": base64.b64encode(self.public_key).decode(),
            "nonce": base64.b64encode(self.nonce).decode(),
        })

    def code(self, fingerprint_seen: str, server_nonce_b64: str) -> str:
        """The six digits this device shows, from the certificate it saw on its own connection."""
        digest = hashlib.sha256(
            b"vomeet-pair-v1" + fingerprint_seen.encode("ascii") + self.public_key + self.nonce
            + base64.b64decode(server_nonce_b64)
        ).digest()
        return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"

    def signature(self, request_id: str) -> str:
        return base64.b64encode(self.key.sign(request_id.encode())).decode()

    def poll(self, client: httpx.Client, request_id: str, signature: str | None = None) -> httpx.Response:
        signed = self.signature(request_id) if signature is None else signature
        headers = {"X-Device-Signature": signed} if signed else {}
        return client.get(f"/devices/pair/{request_id}", headers=headers)
