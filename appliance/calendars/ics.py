"""ICS feeds: a secret address (Google's, Outlook's "publish calendar" link) fetched over HTTP.

A feed has no change list, so each fetch is a full listing of the window. It is fetched
conditionally (If-None-Match / If-Modified-Since): a 304 keeps what is stored and parses
nothing. The address is the secret: no message here names more than its host.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from appliance.calendars.events import expand, parse_calendars
from appliance.calendars.provider import ConnectionSpec, SyncError, SyncResult, register
from appliance.config import Settings
from appliance.logging_redact import register_secret

MAX_FEED_BYTES = 20 * 1024 * 1024
TIMEOUT_S = 30.0
# A 304 cannot expand the recurrences that entered the window since the last parse; after the
# window moved this far, the feed is fetched unconditionally once.
REEXPAND_AFTER = timedelta(hours=6)


class FeedAddressError(ValueError):
    """The address given for a feed is not one the box can fetch."""


def normalise_url(url: str) -> str:
    """webcal:// is https:// (the scheme calendar apps register for subscriptions)."""
    url = url.strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://"):]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FeedAddressError("the feed address must be an http(s):// or webcal:// link to an .ics feed")
    return url


def host_hint(url: str) -> str:
    """What may be shown of a secret address: its host alone."""
    return urlsplit(url).hostname or ""


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """A Retry-After header as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


class IcsFeed:
    def __init__(self, url: str, owner_email: str, settings: Settings,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = normalise_url(url)
        self._host = host_hint(self._url)
        self._owner = owner_email
        self._settings = settings
        self._transport = transport
        # httpx logs every request line, address included: its path and query (where a feed's
        # secret is) are masked in every log line; the host stays readable.
        parts = urlsplit(self._url)
        register_secret(parts.path + (f"?{parts.query}" if parts.query else ""))

    async def sync(self, cursor: str | None, window_start: datetime, window_end: datetime) -> SyncResult:
        previous = json.loads(cursor) if cursor else {}
        headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": "Vomeet calendar sync"}
        expanded_until = previous.get("window_end")
        if expanded_until and datetime.fromisoformat(expanded_until) + REEXPAND_AFTER >= window_end:
            if previous.get("etag"):
                headers["If-None-Match"] = previous["etag"]
            if previous.get("last_modified"):
                headers["If-Modified-Since"] = previous["last_modified"]
        body = await self._fetch(headers, window_end)
        if body is None:
            return SyncResult(events=(), cursor=cursor, full=False)
        calendars = parse_calendars(body.content)
        events = tuple(expand(calendars, self._owner, window_start, window_end, self._settings))
        state = {
            "etag": body.headers.get("etag"),
            "last_modified": body.headers.get("last-modified"),
            "window_end": window_end.isoformat(),
        }
        return SyncResult(events=events, cursor=json.dumps(state), full=True)

    async def _fetch(self, headers: dict[str, str], now: datetime) -> httpx.Response | None:
        """The feed's answer, or None for 304 Not Modified."""
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=True, transport=self._transport) as client:
                async with client.stream("GET", self._url, headers=headers) as response:
                    if response.status_code == 304:
                        return None
                    if response.status_code in (403, 429, 503) and "retry-after" in response.headers:
                        wait = retry_after_s(response.headers["retry-after"], datetime.now(timezone.utc))
                        raise SyncError(f"the feed at {self._host} asked to wait (HTTP {response.status_code})", wait)
                    if response.status_code >= 400:
                        raise SyncError(f"the feed at {self._host} answered HTTP {response.status_code}")
                    received = 0
                    chunks = []
                    async for chunk in response.aiter_bytes():
                        received += len(chunk)
                        if received > MAX_FEED_BYTES:
                            raise SyncError(f"the feed at {self._host} is over {MAX_FEED_BYTES // 2**20} MiB")
                        chunks.append(chunk)
                    return httpx.Response(response.status_code, headers=response.headers, content=b"".join(chunks))
        except httpx.HTTPError as exc:
            # The exception's text may quote the address; only its kind is kept.
            raise SyncError(f"the feed at {self._host} cannot be fetched ({type(exc).__name__})") from None


def build(spec: ConnectionSpec, settings: Settings) -> IcsFeed:
    """The ICS provider of a connection; its secret is the feed's address, `{"url": ...}`."""
    return IcsFeed(spec.secret["url"], spec.owner_email, settings)


register("ics", build)
