"""CalDAV calendars (Nextcloud, Radicale, Fastmail, iCloud, Exchange through a bridge).

The `caldav` library is synchronous, so each sync runs in a thread. Calendars are discovered
from the login's principal; a connection whose address names one calendar collection reads
that one alone. Each calendar is read incrementally with its sync token (RFC 6578's
sync-collection REPORT); the first read, a server without tokens, or a token the server no
longer accepts (then `cursor_expired`, and the engine reads everything again) lists it whole.

The cursor keeps, per calendar, its token and which uid each object address holds: a removal
names only the address, and the engine removes by uid.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error

from appliance.calendars.events import expand, parse_calendars
from appliance.calendars.provider import CalendarEvent, ConnectionSpec, SyncError, SyncResult, register
from appliance.config import Settings
from appliance.logging_redact import register_secret

TIMEOUT_S = 30
# A token brings only changed objects, and an unchanged series is not expanded any further: once
# the window has moved this far since a calendar's last whole read, it is read whole again.
REEXPAND_AFTER = timedelta(hours=6)


def _canonical(url: Any) -> str:
    # Percent-decoded: the server's listing says alice%40example.com where the address a
    # person pasted says alice@example.com, and both name the same collection.
    return unquote(str(url)).rstrip("/") + "/"


def host_hint(url: str, username: str) -> str:
    return f"{username}@{urlsplit(url).hostname or ''}"


@dataclass
class _Listing:
    """One calendar's answer: the new state to keep, and what changed."""

    token: str | None
    uids: dict[str, str]  # object address -> uid
    expanded_until: str  # the window's end at the last whole read (ISO)
    events: list[CalendarEvent]
    removed_uids: set[str]
    full: bool


class CalDavCalendars:
    def __init__(self, url: str, username: str, password: str, owner_email: str, settings: Settings) -> None:
        self._url = url
        self._username = username
        self._password = password
        self._owner = owner_email
        self._settings = settings
        self._host = urlsplit(url).hostname or "the server"
        register_secret(password)

    async def sync(self, cursor: str | None, window_start: datetime, window_end: datetime) -> SyncResult:
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        return await asyncio.to_thread(self._sync, state, window_start, window_end)

    def _sync(self, state: dict[str, Any], window_start: datetime, window_end: datetime) -> SyncResult:
        try:
            with DAVClient(self._url, username=self._username, password=self._password,
                                  timeout=TIMEOUT_S) as client:
                calendars = self._calendars(client)
                if set(state) != {_canonical(c.url) for c in calendars}:
                    state = {}  # a calendar came or went: list them all afresh
                listings = {
                    _canonical(c.url): self._read(c, state.get(_canonical(c.url)), window_start, window_end)
                    for c in calendars
                }
        except SyncError:
            raise
        except caldav_error.AuthorizationError as exc:
            raise SyncError(f"{self._host} refused the login for {self._username} ({exc.reason})") from None
        except caldav_error.DAVError as exc:
            raise SyncError(f"{self._host} answered a CalDAV request with an error ({type(exc).__name__}: "
                            f"{exc.reason})") from None
        except Exception as exc:  # the HTTP library's errors: connection refused, timeouts, TLS
            raise SyncError(f"{self._host} cannot be reached ({type(exc).__name__})") from None
        events = [e for listing in listings.values() for e in listing.events]
        removed = set().union(*(listing.removed_uids for listing in listings.values()))
        cursor = json.dumps({url: {"token": listing.token, "uids": listing.uids,
                                   "expanded_until": listing.expanded_until} for url, listing in listings.items()})
        return SyncResult(
            events=tuple(events), cursor=cursor, removed=tuple(sorted(removed)),
            full=all(listing.full for listing in listings.values()),
        )

    def _calendars(self, client: DAVClient) -> list[Any]:
        found: list[Any] = client.principal().calendars()  # type: ignore[no-untyped-call]  # caldav leaves it untyped
        named = [c for c in found if _canonical(c.url) == _canonical(self._url)]
        if named:
            return named
        if not found:
            raise SyncError(f"the CalDAV account {self._username} at {self._host} has no calendar")
        return list(found)

    def _read(self, calendar: Any, previous: Mapping[str, Any] | None, window_start: datetime,
              window_end: datetime) -> _Listing:
        token = (previous or {}).get("token")
        uids: dict[str, str] = dict((previous or {}).get("uids") or {})
        known: set[str] = set()  # before a whole read: the uids it had, so those now missing go
        expanded_until = str((previous or {}).get("expanded_until") or "")
        if not expanded_until or datetime.fromisoformat(expanded_until) + REEXPAND_AFTER < window_end:
            token, expanded_until = None, window_end.isoformat()
        if token:
            try:
                answer = calendar.objects_by_sync_token(token, load_objects=True)
            except (caldav_error.AuthorizationError, caldav_error.ReportError):
                # The login has just listed the calendars, so a refused sync-collection REPORT
                # is the token (RFC 6578: 403 with DAV:valid-sync-token; caldav 1.x keeps no
                # body to tell). A full read follows; a real permission error fails it plainly.
                raise SyncError(f"{self._host} no longer accepts the sync token", cursor_expired=True) from None
        else:
            answer = calendar.objects_by_sync_token(None, load_objects=True)
            known, uids = set(uids.values()), {}
        listing = _Listing(token=answer.sync_token, uids=uids, expanded_until=expanded_until, events=[],
                           removed_uids=set(), full=not token)
        for obj in answer.objects:
            address = _canonical(obj.url)
            # A deleted object comes back in a sync answer with status 404: caldav's load fails
            # and leaves it without data.
            if not obj.data:
                gone = uids.pop(address, None)
                if gone:
                    listing.removed_uids.add(gone)
                continue
            parsed = parse_calendars(obj.data)
            object_uids = {str(c.get("UID", "")) for cal in parsed for c in cal.walk("VEVENT")} - {""}
            if not object_uids:
                continue  # a to-do or journal entry: no meeting
            # The object's series is replaced by what it expands to now (an added EXDATE drops one).
            listing.removed_uids |= object_uids
            if uids.get(address) and uids[address] not in object_uids:
                listing.removed_uids.add(uids[address])
            uids[address] = sorted(object_uids)[0]
            listing.events.extend(expand(parsed, self._owner, window_start, window_end, self._settings))
        listing.removed_uids |= known - set(uids.values())
        return listing


def build(spec: ConnectionSpec, settings: Settings) -> CalDavCalendars:
    """The CalDAV provider of a connection: address and login in `settings`, password secret."""
    return CalDavCalendars(
        str(spec.settings["url"]), str(spec.settings["username"]), spec.secret["password"],
        spec.owner_email, settings,
    )


register("caldav", build)
