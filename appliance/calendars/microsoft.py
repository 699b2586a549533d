"""Microsoft 365 calendars through Microsoft Graph as a `CalendarProvider`: one user's calendar
(delegated `Calendars.Read`, signed in by the device flow), or every user's through an app with
the application permission `Calendars.Read` (client credentials).

`calendarView/delta` lists the window's instances (occurrences of a series each on their own),
pages with `@odata.nextLink` and ends with an `@odata.deltaLink` whose next call answers only the
changes; `@removed` marks an instance gone; 410 Gone (syncStateNotFound) says the delta link
ended. Times are asked for in UTC (`Prefer: outlook.timezone="UTC"`). The meeting link is looked
for in `onlineMeeting.joinUrl`, `onlineMeetingUrl`, the location, then the body.

Secrets: a user's `refresh_token` (with `client_id`/`tenant` when not the box's), or
organisation-wide `tenant`, `client_id` and `client_secret` of the app.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
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
from appliance.calendars.rest_sync import (
    Account,
    Item,
    organisation_emails,
    require_same_origin,
    sync_accounts,
    utc_iso,
)
from appliance.config import Settings

WHO = "Microsoft Graph"
DELEGATED_SCOPE = "offline_access Calendars.Read"
APPLICATION_SCOPE = "https://graph.microsoft.com/.default"
HEADERS = {"Prefer": 'odata.maxpagesize=100, outlook.timezone="UTC"'}
_RESPONSES: dict[str, AttendeeStatus] = {"organizer": "accepted", "accepted": "accepted",
                                         "tentativelyAccepted": "tentative", "declined": "declined",
                                         "notResponded": "needs-action"}
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _utc(value: Mapping[str, Any] | str) -> datetime:
    """Graph's dateTimeTimeZone (asked for in UTC, with 7 fraction digits) or an ISO string."""
    text = str(value.get("dateTime", "")) if isinstance(value, Mapping) else str(value)
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    except ValueError:
        raise SyncError(f"{WHO} gave an unreadable time {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _links(item: Mapping[str, Any]) -> list[str | None]:
    body = item.get("body") or {}
    return [(item.get("onlineMeeting") or {}).get("joinUrl"), item.get("onlineMeetingUrl"),
            (item.get("location") or {}).get("displayName"), html.unescape(str(body.get("content") or ""))]


def to_item(item: Mapping[str, Any], owner_email: str, settings: Settings) -> Item:
    provider_id = str(item["id"])
    if "@removed" in item or not item.get("start"):
        return provider_id, None
    start_at, end_at = _utc(item["start"]), _utc(item.get("end") or item["start"])
    in_series = item.get("type") in ("occurrence", "exception") and item.get("seriesMasterId")
    if in_series:
        # An occurrence's own iCalUId differs per instance; the series is what makes the uid.
        uid = str(item["seriesMasterId"])
        original = _utc(item["originalStart"]) if item.get("originalStart") else start_at
        key = original.date().isoformat() if item.get("isAllDay") else original.isoformat()
    else:
        uid, key = str(item.get("iCalUId") or provider_id), SINGLE_INSTANCE
    response = str((item.get("responseStatus") or {}).get("response") or "")
    organizer = ((item.get("organizer") or {}).get("emailAddress") or {}).get("address")
    return provider_id, CalendarEvent(
        uid=uid,
        instance_key=key,
        start_at=start_at,
        end_at=end_at,
        title=str(item.get("subject") or ""),
        meeting_url=find_meeting_url(_links(item), settings),
        organizer_email=owner_email if item.get("isOrganizer") else (str(organizer).lower() if organizer else None),
        attendee_status="accepted" if item.get("isOrganizer") else _RESPONSES.get(response),
        is_private=item.get("sensitivity") in ("private", "confidential"),
        cancelled=bool(item.get("isCancelled")),
        owner_email=owner_email,
        all_day=bool(item.get("isAllDay")),
    )


Accounts = Callable[[httpx.AsyncClient], list[tuple[Account, str]]]  # (account, its calendarView path)


class MicrosoftCalendar:
    def __init__(self, settings: Settings, accounts: Accounts) -> None:
        self._settings = settings
        self._accounts = accounts
        self._paths: dict[str, str] = {}

    async def sync(self, cursor: str | None, window_start: datetime, window_end: datetime) -> SyncResult:
        async with http_client() as http:
            pairs = self._accounts(http)
            self._paths = {account.email: path for account, path in pairs}
            return await sync_accounts([a for a, _ in pairs], cursor, window_start, window_end, self._listing)

    async def _listing(self, account: Account, token: str | None, window_start: datetime,
                       window_end: datetime) -> tuple[list[Item], str]:
        base = self._settings.calendar_microsoft_graph_url
        if token:
            link = require_same_origin(token, base, WHO)
            params: dict[str, str] | None = None
        else:
            link = f"{base}{self._paths[account.email]}/calendarView/delta"
            params = {"startDateTime": utc_iso(window_start), "endDateTime": utc_iso(window_end)}
        items: list[Item] = []
        while True:
            body = await account.api.get_json(link, params, HEADERS)
            params = None  # the next and delta links carry their own query
            items.extend(to_item(i, account.email, self._settings) for i in body.get("value") or [])
            if body.get("@odata.nextLink"):
                link = require_same_origin(str(body["@odata.nextLink"]), base, WHO)
            elif body.get("@odata.deltaLink"):
                return items, require_same_origin(str(body["@odata.deltaLink"]), base, WHO)
            else:
                raise SyncError(f"{WHO}'s last page carried no deltaLink")


def token_url(settings: Settings, tenant: str) -> str:
    return f"{settings.calendar_microsoft_login_url}/{quote(tenant, safe='')}/oauth2/v2.0/token"


def device_code_url(settings: Settings, tenant: str) -> str:
    return f"{settings.calendar_microsoft_login_url}/{quote(tenant, safe='')}/oauth2/v2.0/devicecode"


def _user_tokens(settings: Settings, secret: Mapping[str, str]) -> Tokens:
    client_id = secret.get("client_id") or settings.calendar_microsoft_client_id
    if not client_id:
        raise SyncError(f"{WHO}: no app registered (VOMEET_CALENDAR_MICROSOFT_CLIENT_ID)")
    url = token_url(settings, secret.get("tenant") or settings.calendar_microsoft_tenant)
    refresh_token = secret["refresh_token"]

    async def fetch() -> oauth.TokenGrant:
        return await oauth.refresh(url, client_id, None, refresh_token, WHO, DELEGATED_SCOPE)

    return Tokens(cache_key(url, client_id, refresh_token), fetch, refresh_token)


def _app_tokens(settings: Settings, secret: Mapping[str, str]) -> Tokens:
    url = token_url(settings, secret["tenant"])
    client_id, client_secret = secret["client_id"], secret["client_secret"]

    async def fetch() -> oauth.TokenGrant:
        return await oauth.client_credentials(url, client_id, client_secret, APPLICATION_SCOPE, WHO)

    return Tokens(cache_key(url, client_id, client_secret), fetch)


def build(spec: ConnectionSpec, settings: Settings) -> MicrosoftCalendar:
    if "refresh_token" in spec.secret:
        user_tokens = _user_tokens(settings, spec.secret)

        def accounts(http: httpx.AsyncClient) -> list[tuple[Account, str]]:
            return [(Account(spec.owner_email.lower(), ApiClient(WHO, user_tokens, http)), "/me")]
    elif {"tenant", "client_id", "client_secret"} <= set(spec.secret):
        app_tokens, emails = _app_tokens(settings, spec.secret), organisation_emails(spec)

        def accounts(http: httpx.AsyncClient) -> list[tuple[Account, str]]:
            api = ApiClient(WHO, app_tokens, http)  # one app token reads every user's calendar
            return [(Account(e, api), f"/users/{quote(e, safe='@')}") for e in emails]
    else:
        raise SyncError(f"{WHO}: the connection holds neither a refresh token nor an app's credentials")
    return MicrosoftCalendar(settings, accounts)


register("microsoft", build)
