"""The sync loop shared by the REST calendar APIs (Google Calendar, Microsoft Graph).

Both list a window of event instances, page by page, and end the listing with a token for the
next incremental call (Google's nextSyncToken, Graph's deltaLink). One connection may read several
calendars (organisation-wide access reads every user's), so the cursor the engine stores is a JSON
object with, per owner, that token and an index of the instances seen (provider id -> uid,
instance key, start, end). The index is what turns an incremental answer's bare deletion (Graph's
`@removed`, Google's cancelled entry with only an id) into a cancelled `CalendarEvent` the engine
can match; it holds no secret and only instances inside the window.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.calendars.api_client import ApiClient
from appliance.calendars.provider import CalendarEvent, ConnectionSpec, SyncError, SyncResult

# (provider id, the instance; None when the answer says only that it is gone)
Item = tuple[str, CalendarEvent | None]


@dataclass(frozen=True)
class Account:
    """One calendar read for one owner: whose it is, and the client authorised to read it."""

    email: str
    api: ApiClient


# (account, token or None for a full listing, window) -> (items, the next token)
Listing = Callable[[Account, str | None, datetime, datetime], Awaitable[tuple[list[Item], str]]]


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _decode(cursor: str | None) -> dict[str, dict[str, Any]] | None:
    if cursor is None:
        return None
    try:
        state = json.loads(cursor)
    except ValueError:
        return None
    users = state.get("users") if isinstance(state, dict) else None
    return users if isinstance(users, dict) else None


async def sync_accounts(accounts: Sequence[Account], cursor: str | None, window_start: datetime,
                        window_end: datetime, listing: Listing) -> SyncResult:
    state = _decode(cursor)
    # A new owner (organisation-wide: a user added to the box) or an unreadable cursor: list all
    # of them in full, so `full` holds for the whole answer.
    full = state is None or set(state) != {a.email for a in accounts}
    events: list[CalendarEvent] = []
    users: dict[str, dict[str, Any]] = {}
    for account in accounts:
        prior = None if full or state is None else state[account.email]
        index: dict[str, list[str]] = dict(prior.get("index", {})) if prior else {}
        items, token = await listing(account, prior.get("token") if prior else None, window_start, window_end)
        for provider_id, event in items:
            if event is None:
                known = index.pop(provider_id, None)
                if known is not None:
                    events.append(_cancelled(known, account.email))
                continue
            inside = event.end_at > window_start and event.start_at < window_end
            if not inside and provider_id not in index:
                continue  # an incremental answer's change far from the window
            index[provider_id] = [event.uid, event.instance_key, utc_iso(event.start_at), utc_iso(event.end_at)]
            events.append(event)
        users[account.email] = {"token": token, "index": {
            pid: known for pid, known in index.items() if datetime.fromisoformat(known[3]) > window_start}}
    return SyncResult(events=tuple(events), cursor=json.dumps({"users": users}, sort_keys=True), full=full)


def _cancelled(known: list[str], owner_email: str) -> CalendarEvent:
    uid, instance_key, start, end = known
    return CalendarEvent(uid=uid, instance_key=instance_key, start_at=datetime.fromisoformat(start),
                         end_at=datetime.fromisoformat(end), title="", meeting_url=None, organizer_email=None,
                         attendee_status=None, is_private=False, cancelled=True, owner_email=owner_email)


def organisation_emails(spec: ConnectionSpec) -> list[str]:
    """The users an organisation-wide connection reads: the box's users (their emails, which the
    engine passes as `user_emails`), only those of the connection's `domain` when it names one."""
    emails = spec.settings.get("user_emails") or []
    if not isinstance(emails, list):
        raise SyncError("an organisation-wide connection needs the list of users to read")
    domain = str(spec.settings.get("domain") or "").lower().lstrip("@")
    found = sorted({str(e).lower() for e in emails})
    return [e for e in found if not domain or e.endswith("@" + domain)]


def require_same_origin(link: str, base_url: str, who: str) -> str:
    """A next-page or delta link the API gave must point back at the API: the box follows no
    link elsewhere (docs/egress.md)."""
    if not link.startswith(base_url.rstrip("/") + "/"):
        raise SyncError(f"{who} gave a paging link outside its API; not followed")
    return link
