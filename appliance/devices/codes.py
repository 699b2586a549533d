"""The pairing code both screens show, and the check of a client's signed poll (docs/pairing.md).

The code binds the certificate the client saw, the client's key and both nonces: a man in the
middle must change one of them, and so changes the code a person compares.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CODE_CONTEXT = b"vomeet-pair-v1"
PUBLIC_KEY_BYTES = 32
NONCE_BYTES = 16


def pairing_code(fingerprint_hex: str, public_key: bytes, client_nonce: bytes, server_nonce: bytes) -> str:
    """Six digits, zero-padded."""
    digest = hashlib.sha256(
        CODE_CONTEXT + fingerprint_hex.encode("ascii") + public_key + client_nonce + server_nonce
    ).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def shown(code: str) -> str:
    """As people read it: `123 456`."""
    return f"{code[:3]} {code[3:]}"


def decode_base64(value: str, length: int) -> bytes | None:
    """Standard base64 of exactly `length` bytes, else None."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == length else None


def signature_valid(public_key_b64: str, message: str, signature_b64: str) -> bool:
    """Whether `signature_b64` is the Ed25519 signature of `message` by that key."""
    key = decode_base64(public_key_b64, PUBLIC_KEY_BYTES)
    signature = decode_base64(signature_b64, 64)
    if key is None or signature is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message.encode("utf-8"))
    except InvalidSignature:
        return False
    return True
