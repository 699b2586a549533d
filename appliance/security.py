"""Secrets: API tokens, admin keys and bot tokens are random, shown once, stored as hashes.

Tokens carry 32 random bytes, so a plain SHA-256 is a sound verifier (no slow hash is needed for
high-entropy secrets) and allows an indexed lookup. The prefix kept for display is not secret.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

USER_TOKEN_PREFIX = "vmt_"
ADMIN_KEY_PREFIX = "vma_"
BOT_TOKEN_PREFIX = "vmb_"
SHARE_PREFIX = "vms_"
DISPLAY_PREFIX_LENGTH = 12


@dataclass(frozen=True)
class NewSecret:
    value: str
    prefix: str
    digest: str


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret(kind_prefix: str) -> NewSecret:
    value = kind_prefix + secrets.token_urlsafe(32)
    return NewSecret(value=value, prefix=value[:DISPLAY_PREFIX_LENGTH], digest=hash_secret(value))
