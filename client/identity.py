"""The device's identity: a device id (a UUID) and an Ed25519 key pair.

The public key goes to the appliance when pairing (`client.pairing`); the private key signs the
pairing request's id when the client polls, so only the computer that asked can collect the
token. `client.store` keeps both (the private key with the secrets).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    key: Ed25519PrivateKey

    @classmethod
    def new(cls) -> DeviceIdentity:
        return cls(str(uuid.uuid4()), Ed25519PrivateKey.generate())

    @classmethod
    def from_secret(cls, device_id: str, secret: str) -> DeviceIdentity:
        """From `secret()`'s text (base64 of the raw 32-byte private key)."""
        return cls(device_id, Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret)))

    def secret(self) -> str:
        raw = self.key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return base64.b64encode(raw).decode()

    def public_raw(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> str:
        """Base64 Ed25519 signature of `message`."""
        return base64.b64encode(self.key.sign(message)).decode()
