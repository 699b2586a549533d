"""Making Google and Microsoft connections: the sign-in hand-overs and organisation-wide access.

- Google, per user: the desktop client (or any browser on the user's machine) runs Google's
  installed-app loopback flow with PKCE and hands the box the authorisation code with its
  verifier (or a refresh token); the box exchanges it and keeps only the refresh token.
- Microsoft, per user: the device authorisation grant. `DeviceFlows.start` asks for a code, the
  person enters it at Microsoft's page on any device, and a task of this process polls the token
  endpoint until they approve (or the code expires), then stores the connection. The device code
  is held in memory only: a restart ends the sign-in and the person starts again.
- Organisation-wide (an administrator, `user_id` None): a Google Workspace service account key
  with domain-wide delegation, or a Microsoft app's tenant, client id and secret; every user of
  the box is read by their email (appliance/calendars/sync.py passes `user_emails`).

Every secret goes through appliance/calendars/secrets.py; none is returned or logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance.calendars import microsoft, oauth
from appliance.calendars.provider import ConnectionSpec, SyncError
from appliance.calendars.secrets import SecretBox
from appliance.calendars.service import ConnectionDraft, ConnectionRefused, create
from appliance.calendars.sync import SyncContext, SyncOutcome, fetch, store
from appliance.config import Settings
from appliance.db.models import CalendarConnection, User, utcnow

log = logging.getLogger(__name__)


def google_client(settings: Settings) -> tuple[str, str | None]:
    if not settings.calendar_google_client_id:
        raise ConnectionRefused("no Google OAuth client is configured (VOMEET_CALENDAR_GOOGLE_CLIENT_ID)")
    return settings.calendar_google_client_id, settings.read_calendar_google_client_secret()


async def google_draft(settings: Settings, *, code: str | None, code_verifier: str | None,
                       redirect_uri: str | None, refresh_token: str | None, name: str | None,
                       rules: Mapping[str, Any]) -> ConnectionDraft:
    """A user's Google connection from what their machine obtained: a code (exchanged here, with
    the box's client) or a refresh token of the box's client."""
    client_id, client_secret = google_client(settings)
    if code:
        if not code_verifier or not redirect_uri:
            raise ConnectionRefused("a Google authorisation code needs its `code_verifier` and `redirect_uri`")
        try:
            grant = await oauth.exchange_code(settings.calendar_google_token_url, client_id, client_secret, code,
                                              code_verifier, redirect_uri, "Google")
        except oauth.OAuthError as exc:
            raise ConnectionRefused(exc.message) from None
        refresh_token = grant.refresh_token
    if not refresh_token:
        raise ConnectionRefused("give either `code` (with `code_verifier` and `redirect_uri`) or `refresh_token`")
    return ConnectionDraft("google", name or "Google Calendar", {"refresh_token": refresh_token}, "Google account",
                           {"calendar_id": "primary"}, rules)


def google_workspace_draft(key_json: str, domain: str | None, name: str | None,
                           rules: Mapping[str, Any]) -> ConnectionDraft:
    try:
        key = oauth.parse_service_account_key(key_json)
    except oauth.OAuthError as exc:
        raise ConnectionRefused(exc.message) from None
    settings: dict[str, Any] = {"calendar_id": "primary", **({"domain": domain.lower()} if domain else {})}
    return ConnectionDraft("google", name or "Google Workspace (every user)", {"service_account_key": key_json},
                           key["client_email"], settings, rules)


def microsoft_app_draft(tenant: str, client_id: str, client_secret: str, domain: str | None, name: str | None,
                        rules: Mapping[str, Any]) -> ConnectionDraft:
    return ConnectionDraft("microsoft", name or "Microsoft 365 (every user)",
                           {"tenant": tenant, "client_id": client_id, "client_secret": client_secret},
                           f"app {client_id} in {tenant}", {"domain": domain.lower()} if domain else {}, rules)


async def create_organisation_wide(context: SyncContext, draft: ConnectionDraft, now: Any,
                                   user_emails: list[str]) -> SyncOutcome:
    """An administrator's connection (no owner): read once for every user, then stored."""
    settings = context.settings
    spec = ConnectionSpec(0, draft.kind, "", dict(draft.secret), {**draft.settings, "user_emails": user_emails})
    try:
        result = await fetch(settings, spec, None, now)
    except SyncError as exc:
        raise ConnectionRefused(f"the calendars could not be read: {exc.message}") from None
    async with context.db.session() as session:
        connection = CalendarConnection(
            user_id=None, kind=draft.kind, name=draft.name[:200],
            secret=SecretBox.for_data_dir(settings.data_dir).seal(draft.secret), secret_hint=draft.hint[:300],
            settings=dict(draft.settings), rules=dict(draft.rules), consecutive_failures=0, created_at=now)
        session.add(connection)
        await session.flush()
        return await store(session, settings, connection, result, now)


# --- Microsoft's device authorisation grant ---------------------------------------------------

FlowStatus = Literal["pending", "connected", "failed"]


@dataclass
class DeviceFlow:
    id: str
    user_id: int
    user_code: str
    verification_uri: str
    expires_at: float
    status: FlowStatus = "pending"
    error: str | None = None
    connection_id: int | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class DeviceFlows:
    """The device sign-ins this process is waiting on, by a random id the user polls with."""

    def __init__(self) -> None:
        self._flows: dict[str, DeviceFlow] = {}

    def get(self, flow_id: str, user: User) -> DeviceFlow | None:
        flow = self._flows.get(flow_id)
        return flow if flow is not None and flow.user_id == user.id else None

    async def start(self, context: SyncContext, user: User, name: str | None, rules: Mapping[str, Any],
                    created: Callable[[], Awaitable[object]]) -> DeviceFlow:
        """Ask Microsoft for a code to show; `created` runs once the connection is stored (the
        API relays the events its first sync made)."""
        settings = context.settings
        if not settings.calendar_microsoft_client_id:
            raise ConnectionRefused("no Microsoft app is registered (VOMEET_CALENDAR_MICROSOFT_CLIENT_ID)")
        tenant = settings.calendar_microsoft_tenant
        try:
            code = await oauth.start_device_flow(microsoft.device_code_url(settings, tenant),
                                                 settings.calendar_microsoft_client_id,
                                                 microsoft.DELEGATED_SCOPE, "Microsoft")
        except oauth.OAuthError as exc:
            raise ConnectionRefused(exc.message) from None
        self._forget_finished()
        flow = DeviceFlow(secrets.token_urlsafe(16), user.id, code.user_code, code.verification_uri, code.expires_at)
        flow.task = asyncio.create_task(self._poll(context, user, flow, code, name, dict(rules), created))
        self._flows[flow.id] = flow
        return flow

    async def _poll(self, context: SyncContext, user: User, flow: DeviceFlow, code: oauth.DeviceCode,
                    name: str | None, rules: dict[str, Any], created: Callable[[], Awaitable[object]]) -> None:
        settings = context.settings
        assert settings.calendar_microsoft_client_id
        url = microsoft.token_url(settings, settings.calendar_microsoft_tenant)
        interval = code.interval_s
        try:
            while time.time() < code.expires_at:
                await asyncio.sleep(interval)
                answer = await oauth.poll_device_flow(url, settings.calendar_microsoft_client_id, code.device_code,
                                                      interval, "Microsoft")
                if isinstance(answer, oauth.DevicePending):
                    interval = answer.interval_s
                    continue
                if not answer.refresh_token:
                    raise ConnectionRefused("Microsoft gave no refresh token (is offline_access granted?)")
                draft = ConnectionDraft("microsoft", name or "Microsoft 365", {"refresh_token": answer.refresh_token},
                                        "Microsoft account", {}, rules)
                outcome = await create(context, user, draft, utcnow())
                flow.status, flow.connection_id = "connected", outcome.connection_id
                await created()
                return
            raise oauth.OAuthError("the Microsoft sign-in code expired before it was approved; start again")
        except (oauth.OAuthError, ConnectionRefused) as exc:
            flow.status, flow.error = "failed", getattr(exc, "message", None) or str(exc)
        except Exception:  # the flow must end in a state the user can read
            log.exception("the Microsoft device sign-in %s failed", flow.id)
            flow.status, flow.error = "failed", "the sign-in failed unexpectedly; start again"

    def _forget_finished(self) -> None:
        now = time.time()
        for flow_id in [f.id for f in self._flows.values() if f.expires_at + 3600 < now]:
            self._flows.pop(flow_id)


DEVICE_FLOWS = DeviceFlows()
