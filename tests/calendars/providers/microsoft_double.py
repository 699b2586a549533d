"""TEST DOUBLE of Microsoft Graph's calendarView delta and the Microsoft identity platform's
token endpoints (Microsoft's servers cannot be reached from here). It implements only the subset
appliance/calendars/microsoft.py and its sign-in use:

- `POST /{tenant}/oauth2/v2.0/devicecode` and the device code grant on `/token`
  (`authorization_pending` until the test approves the user code, then tokens);
  `refresh_token` (a new refresh token each time, as Microsoft rotates them, the old one still
  valid until revoked; then `invalid_grant`); `client_credentials` for an app (client id and
  secret checked, scope `.default`).
- `GET /v1.0/me/calendarView/delta` (a delegated token) and
  `/v1.0/users/{email}/calendarView/delta` (an app token): the window's instances
  (`startDateTime`/`endDateTime`), `@odata.nextLink` pages of `page_size`, an `@odata.deltaLink`
  whose call answers the changes since (changed instances, and `@removed` for deleted ones);
  410 syncStateNotFound for an expired delta token; 401 for an expired access token; 429 with
  `Retry-After` when told to.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.calendars.providers.serving import CalendarDouble

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class GraphDouble(CalendarDouble):
    client_id: str = "00000000-box0-public-client"
    app_id: str = "11111111-org-app"
    app_secret: str = "org-app-secret"
    tenant: str = "contoso.example"
    page_size: int = 2
    interval_s: int = 5  # the device flow's polling interval
    removed: dict[tuple[str, str], int] = field(default_factory=dict)
    device_codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # device code -> state
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)  # token -> user, or "app:" + tenant
    expired_delta_tokens: bool = False
    rate_limited: list[int] = field(default_factory=list)  # Retry-After of the 429s due
    requests: list[str] = field(default_factory=list)  # URLs of the API calls
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def routes(self) -> list[Route]:
        return [
            Route("/{tenant}/oauth2/v2.0/devicecode", self._device_code, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/v1.0/me/calendarView/delta", self._delta),
            Route("/v1.0/users/{user}/calendarView/delta", self._delta),
        ]

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def delete(self, user: str, event_id: str) -> None:
        self.seq += 1
        self.events[user].pop(event_id)
        self.removed[(user, event_id)] = self.seq

    def approve(self, user_code: str, user: str) -> None:
        """The person signs in at the verification page and approves the box."""
        state = next(s for s in self.device_codes.values() if s["user_code"] == user_code)
        state["user"] = user

    def issue_refresh_token(self, user: str) -> str:
        token = "M.R3_" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = user
        return token

    def revoke(self, user: str) -> None:
        for token in [t for t, u in self.refresh_tokens.items() if u == user]:
            self.refresh_tokens.pop(token)

    def revoke_token(self, token: str) -> None:
        self.refresh_tokens.pop(token)

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    # --- identity platform -----------------------------------------------------------------
    async def _device_code(self, request: Request) -> Response:
        form = dict(await request.form())
        if form.get("client_id") != self.client_id:
            return JSONResponse({"error": "unauthorized_client"}, 400)
        device_code, user_code = secrets.token_urlsafe(24), secrets.token_hex(4).upper()
        self.device_codes[device_code] = {"user_code": user_code, "user": None, "scope": form.get("scope")}
        return JSONResponse({"device_code": device_code, "user_code": user_code,
                             "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900,
                             "interval": self.interval_s, "message": f"To sign in, enter the code {user_code}."})

    def _issue(self, subject: str, refresh: bool) -> JSONResponse:
        access = "eyJ0" + secrets.token_urlsafe(24)
        self.access_tokens[access] = subject
        body: dict[str, Any] = {"token_type": "Bearer", "access_token": access, "expires_in": 3600}
        if refresh:
            body["refresh_token"] = self.issue_refresh_token(subject)
        return JSONResponse(body)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if ((form.get("client_id"), form.get("client_secret")) != (self.app_id, self.app_secret)
                    or request.path_params["tenant"] != self.tenant):
                return JSONResponse({"error": "invalid_client"}, 401)
            assert form.get("scope") == "https://graph.microsoft.com/.default"
            return self._issue("app:" + self.tenant, refresh=False)
        if form.get("client_id") != self.client_id:
            return JSONResponse({"error": "unauthorized_client"}, 400)
        if grant == DEVICE_GRANT:
            state = self.device_codes.get(form.get("device_code", ""))
            if state is None:
                return JSONResponse({"error": "expired_token"}, 400)
            if state["user"] is None:
                return JSONResponse({"error": "authorization_pending"}, 400)
            self.device_codes.pop(form["device_code"])
            return self._issue(state["user"], refresh=True)
        if grant == "refresh_token":
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return JSONResponse({"error": "invalid_grant", "error_codes": [70008]}, 400)
            return self._issue(user, refresh=True)  # a new one each time; the old stays valid, as Microsoft's do
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    # --- calendarView/delta -------------------------------------------------------------------
    async def _delta(self, request: Request) -> Response:
        self.requests.append(str(request.url))
        subject = self.access_tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if subject is None:
            return JSONResponse({"error": {"code": "InvalidAuthenticationToken",
                                           "message": "Access token has expired."}}, 401)
        user = request.path_params.get("user")
        if user is None and subject.startswith("app:"):
            return JSONResponse({"error": {"code": "BadRequest", "message": "/me needs a delegated token"}}, 400)
        if user is not None and subject != "app:" + self.tenant and subject != user:
            return JSONResponse({"error": {"code": "ErrorAccessDenied"}}, 403)
        user = user or subject
        if self.rate_limited:
            return JSONResponse({"error": {"code": "TooManyRequests"}}, 429,
                                headers={"Retry-After": str(self.rate_limited.pop(0))})
        assert 'outlook.timezone="UTC"' in request.headers.get("prefer", ""), "the box asks for UTC times"
        query = dict(request.query_params)
        mine = self.events.get(user, {})
        low, high = query.get("startDateTime"), query.get("endDateTime")
        if "$deltatoken" in query and self.expired_delta_tokens:
            return JSONResponse({"error": {"code": "syncStateNotFound",
                                           "message": "The sync state generation is not found."}}, 410)
        since = query.get("$deltatoken") or query.get("since")
        if since is not None and not low:  # the changes since a delta link
            found = [e for i, e in mine.items() if self.changed[(user, i)] > int(since)]
            found += [{"id": i, "@removed": {"reason": "deleted"}}
                      for (u, i), s in self.removed.items() if u == user and s > int(since)]
        else:
            assert low and high, "a first delta call names its window"
            found = self._window(mine, low, high)
        offset = int(query.get("$skiptoken", "0"))
        base = f"{self.graph_url}{request.url.path.removeprefix('/v1.0')}"
        body: dict[str, Any] = {"value": found[offset:offset + self.page_size]}
        if offset + self.page_size < len(found):
            keep = {"startDateTime": low, "endDateTime": high} if low else {"since": since}
            body["@odata.nextLink"] = f"{base}?{urlencode({**keep, '$skiptoken': offset + self.page_size})}"
        else:
            body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': self.seq})}"
        return JSONResponse(body)

    @staticmethod
    def _window(mine: dict[str, dict[str, Any]], low: str, high: str) -> list[dict[str, Any]]:
        def at(moment: dict[str, str]) -> datetime:
            return datetime.fromisoformat(moment["dateTime"][:26] + "+00:00")

        lo, hi = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (low, high))
        return [e for e in mine.values() if at(e["end"]) > lo and at(e["start"]) < hi]
