"""HMAC-SHA256 signatures over `<timestamp>.<raw body>`, as receivers verify them."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_headers(secret: str | None, timestamp: int, body: bytes) -> dict[str, str]:
    if not secret:
        return {}
    return {
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": signature(secret, timestamp, body),
    }
