"""Google Calendar (API v3) as a `CalendarProvider`: one user's calendar, or every user's through
a Workspace service account with domain-wide delegation.

`events.list` with `singleEvents=true` gives each instance of a recurring event; `pageToken`
pages; the last page's `nextSyncToken` makes the next call incremental; 410 Gone says the token
ended (the engine then resyncs in full). The meeting link is looked for in the conference data's
video entry points, `hangoutLink`, the location and the description, in that order.

Secrets (appliance/calendars/secrets.py opens them): a user's `refresh_token` with the OAuth
client (`client_id`, `client_secret`: the box's `VOMEET_CALENDAR_GOOGLE_CLIENT_*` when absent),
or organisation-wide a `service_account_key` (the JSON key file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

import httpx

from appliance.calendars import oauth
from appliance.calendars.api_client import ApiClient, Tokens, cache_key, http_client
from appliance.calendars.events import find_meeting_url
from appliance.calendars.provider import (
    SINGLE_INSTANCE,
    AttendeeStatus,
    CalendarEvent,
    ConnectionSpec,
    SyncError,
    SyncResult,
    register,
)
from appliance.calendars.rest_sync import Account, Item, organisation_emails, sync_accounts, utc_iso
from appliance.config import Settings

WHO = "Google Calendar"
PAGE_SIZE = "250"
_RESPONSES: dict[str, AttendeeStatus] = {"accepted": "accepted", "tentative": "tentative",
                                         "declined": "declined", "needsAction": "needs-action"}


def _moment(value: Mapping[str, Any]) -> tuple[datetime, bool]:
    """An event time (`dateTime` with its offset, or an all-day `date`) in UTC, and whether all-day."""
    if value.get("dateTime"):
        moment = datetime.fromisoformat(str(value["dateTime"]))
        if moment.tzinfo is None:
            raise SyncError(f"{WHO} gave a time without an offset")
        return moment.astimezone(UTC), False
    if value.get("date"):
        return datetime.combine(date.fromisoformat(str(value["date"])), time(), tzinfo=UTC), True
    raise SyncError(f"{WHO} gave an event without a start or end")


def _links(item: Mapping[str, Any]) -> list[str | None]:
    entry_points = (item.get("conferenceData") or {}).get("entryPoints") or []
    video = [str(e.get("uri")) for e in entry_points if e.get("entryPointType") == "video" and e.get("uri")]
    return [*video, item.get("hangoutLink"), item.get("location"), item.get("description")]


def to_item(item: Mapping[str, Any], owner_email: str, settings: Settings) -> Item:
    provider_id = str(item["id"])
    if not item.get("start"):  # a deletion in an incremental answer: only the id is certain
        return provider_id, None
    start_at, all_day = _moment(item["start"])
    end_at, _ = _moment(item.get("end") or item["start"])
    if item.get("recurringEventId"):
        original, _ = _moment(item.get("originalStartTime") or item["start"])
        key = original.date().isoformat() if all_day else original.isoformat()
    else:
        key = SINGLE_INSTANCE
    me = next((a for a in item.get("attendees") or [] if a.get("self")), None)
    organizer = item.get("organizer") or {}
    status = _RESPONSES.get(str(me.get("responseStatus"))) if me else None
    if me is None and organizer.get("self"):
        status = "accepted"
    return provider_id, CalendarEvent(
        uid=str(item.get("iCalUID") or provider_id),
        instance_key=key,
        start_at=start_at,
        end_at=end_at,
        title=str(item.get("summary") or ""),
        meeting_url=find_meeting_url(_links(item), settings),
        organizer_email=str(organizer["email"]).lower() if organizer.get("email") else None,
        attendee_status=status,
        is_private=item.get("visibility") in ("private", "confidential"),
        cancelled=item.get("status") == "cancelled",
        owner_email=owner_email,
        all_day=all_day,
    )


Accounts = Callable[[httpx.AsyncClient], list[Account]]


class GoogleCalendar:
    """Reads `calendar_id` (default `primary`) of each account."""

    def __init__(self, settings: Settings, accounts: Accounts, calendar_id: str = "primary") -> None:
        self._settings = settings
        self._accounts = accounts
        self._calendar_id = calendar_id

    async def sync(self, cursor: str | None, window_start: datetime, window_end: datetime) -> SyncResult:
        async with http_client() as http:
            return await sync_accounts(self._accounts(http), cursor, window_start, window_end, self._listing)

    async def _listing(self, account: Account, token: str | None, window_start: datetime,
                       window_end: datetime) -> tuple[list[Item], str]:
        url = f"{self._settings.calendar_google_api_url}/calendars/{quote(self._calendar_id, safe='')}/events"
        base = {"singleEvents": "true", "maxResults": PAGE_SIZE}
        # A sync token cannot be combined with a time range (the API refuses it).
        base |= {"syncToken": token} if token else {"timeMin": utc_iso(window_start), "timeMax": utc_iso(window_end)}
        items: list[Item] = []
        page: str | None = None
        while True:
            body = await account.api.get_json(url, {**base, **({"pageToken": page} if page else {})})
            items.extend(to_item(i, account.email, self._settings) for i in body.get("items") or [])
            page = body.get("nextPageToken")
            if not page:
                next_token = body.get("nextSyncToken")
                if not next_token:
                    raise SyncError(f"{WHO}'s last page carried no nextSyncToken")
                return items, str(next_token)


def _user_tokens(settings: Settings, secret: Mapping[str, str]) -> Tokens:
    client_id = secret.get("client_id") or settings.calendar_google_client_id
    client_secret = secret.get("client_secret") or settings.read_calendar_google_client_secret()
    if not client_id:
        raise SyncError(f"{WHO}: no OAuth client configured (VOMEET_CALENDAR_GOOGLE_CLIENT_ID)")
    token_url, refresh_token = settings.calendar_google_token_url, secret["refresh_token"]

    async def fetch() -> oauth.TokenGrant:
        return await oauth.refresh(token_url, client_id, client_secret, refresh_token, WHO)

    return Tokens(cache_key(token_url, client_id, refresh_token), fetch, refresh_token)


def _delegated_tokens(settings: Settings, key: dict[str, str], subject: str) -> Tokens:
    token_url = settings.calendar_google_token_url

    async def fetch() -> oauth.TokenGrant:
        return await oauth.service_account_token(key, subject, oauth.GOOGLE_CALENDAR_SCOPE, token_url, WHO)

    return Tokens(cache_key(token_url, key["client_email"], subject), fetch)


def build(spec: ConnectionSpec, settings: Settings) -> GoogleCalendar:
    if "service_account_key" in spec.secret:
        try:
            key = oauth.parse_service_account_key(spec.secret["service_account_key"])
        except oauth.OAuthError as exc:
            raise SyncError(f"{WHO}: {exc.message}") from None
        tokens = {e: _delegated_tokens(settings, key, e) for e in organisation_emails(spec)}
    elif "refresh_token" in spec.secret:
        tokens = {spec.owner_email.lower(): _user_tokens(settings, spec.secret)}
    else:
        raise SyncError(f"{WHO}: the connection holds neither a refresh token nor a service account key")

    def accounts(http: httpx.AsyncClient) -> list[Account]:
        return [Account(email, ApiClient(WHO, t, http)) for email, t in tokens.items()]

    return GoogleCalendar(settings, accounts, str(spec.settings.get("calendar_id") or "primary"))


register("google", build)
