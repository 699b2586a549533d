"""An authorised JSON client for a calendar provider's REST API (Google Calendar, Graph).

One place for what both providers need: a bearer token kept until it nearly expires, one refresh
and one retry when the API says the token expired (401), and the API's refusals turned into the
engine's `SyncError` (429, or 403 rateLimitExceeded, with Retry-After; 410 Gone for a sync token or
delta link that ended: `cursor_expired`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from appliance.calendars.oauth import RECONNECT, OAuthError, TokenGrant
from appliance.calendars.provider import SyncError

TIMEOUT_S = 30.0
EARLY_S = 60.0  # refresh a token this long before it expires
RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded")
Fetch = Callable[[], Awaitable[TokenGrant]]

# Access tokens by who they were issued for (a hash of the grant's inputs): a provider is built
# for each sync, and a token lasts an hour, so syncs every few minutes need not ask for one each.
_TOKENS: dict[str, TokenGrant] = {}


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# Refresh tokens a provider replaced (Microsoft issues a new one with every refresh, and the old
# one still expires on its own date): old -> new, until the engine stores the new one
# (`renewed_secret`).
_ROTATED: dict[str, str] = {}


def renewed_secret(secret: Mapping[str, str]) -> dict[str, str] | None:
    """The connection's secret with the refresh token a refresh replaced, once; None if none was."""
    old = secret.get("refresh_token")
    new = _ROTATED.pop(old, None) if old else None
    return {**secret, "refresh_token": new} if new else None


class Tokens:
    """The access token of one identity: cached, fetched when missing or near expiry, or forced.
    `refresh_token`: the one `fetch` spends, so a replacement it receives can be kept."""

    def __init__(self, key: str, fetch: Fetch, refresh_token: str | None = None) -> None:
        self._key = key
        self._fetch = fetch
        self._refresh_token = refresh_token

    async def get(self, force: bool = False) -> str:
        cached = _TOKENS.get(self._key)
        if force or cached is None or cached.expires_at - EARLY_S < time.time():
            try:
                cached = await self._fetch()
            except OAuthError as exc:
                raise SyncError(exc.message) from None
            _TOKENS[self._key] = cached
            if self._refresh_token and cached.refresh_token and cached.refresh_token != self._refresh_token:
                _ROTATED[self._refresh_token] = cached.refresh_token
        return cached.access_token


def retry_after_s(answer: httpx.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = answer.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_text(answer: httpx.Response) -> str:
    """The API's error code or reason (never the request: it may carry a token)."""
    try:
        error = answer.json().get("error")
    except ValueError:
        return ""
    if isinstance(error, dict):
        reasons = [e.get("reason", "") for e in error.get("errors", []) if isinstance(e, dict)]
        return " ".join(filter(None, [str(error.get("code", "")), *reasons, str(error.get("status", ""))]))
    return str(error or "")


class ApiClient:
    def __init__(self, who: str, tokens: Tokens, http: httpx.AsyncClient) -> None:
        self.who = who
        self.tokens = tokens
        self._http = http

    async def get_json(self, url: str, params: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        answer = await self._get(url, params, headers, await self.tokens.get())
        if answer.status_code == 401:  # expired or revoked access token: refresh once, retry once
            answer = await self._get(url, params, headers, await self.tokens.get(force=True))
            if answer.status_code == 401:
                raise SyncError(f"{self.who} refused a freshly issued access token: {RECONNECT}")
        self._raise_for(answer)
        body = answer.json()
        if not isinstance(body, dict):
            raise SyncError(f"{self.who} answered with something other than a JSON object")
        return body

    async def _get(self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str] | None,
                   token: str) -> httpx.Response:
        try:
            return await self._http.get(url, params=params,
                                        headers={**(headers or {}), "Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise SyncError(f"{self.who} could not be reached ({type(exc).__name__})") from None

    def _raise_for(self, answer: httpx.Response) -> None:
        status = answer.status_code
        if status < 400:
            return
        text = _error_text(answer)
        if status == 410 or "syncStateNotFound" in text or "fullSyncRequired" in text:
            raise SyncError(f"{self.who}'s sync token has ended; resyncing in full", cursor_expired=True)
        if status == 429 or (status == 403 and any(r in text for r in RATE_LIMIT_REASONS)):
            raise SyncError(f"{self.who} is rate limiting the box ({status})", retry_after_s=retry_after_s(answer))
        raise SyncError(f"{self.who} answered {status} {text}".rstrip())


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
