"""Administrator passwords: argon2id hashes (argon2-cffi), verified off the event loop."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified when an account does not exist, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_LENGTH = 10


class WeakPassword(ValueError):
    """The password is too short to be set; the message says what is needed."""


def generate() -> str:
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def _verify(digest: str | None, password: str) -> bool:
    try:
        return _hasher.verify(digest or _DUMMY_HASH, password) and digest is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify(digest: str | None, password: str) -> bool:
    """True when `password` matches `digest`; a None digest (no such account) never matches."""
    return await asyncio.to_thread(_verify, digest, password)
