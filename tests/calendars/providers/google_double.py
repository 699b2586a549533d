"""TEST DOUBLE of Google's Calendar API v3 and OAuth token endpoint (Google's servers cannot be
reached from here). It implements only the subset appliance/calendars/google.py uses:

- `GET /auth`: the authorisation endpoint as a consenting user's browser meets it: it redirects
  (302) to the loopback `redirect_uri` with a code for `consenting_user` and the `state`, or with
  `error=access_denied` when `denies` is set; the PKCE challenge is kept for the token exchange.
- `POST /token`: grants `refresh_token`, `authorization_code` (PKCE S256 checked) and the JWT
  bearer assertion of a service account (RS256 signature verified with the account's public key,
  `iss`, `aud`, `scope`, `exp` checked, `sub` must be a known user: domain-wide delegation);
  `invalid_grant` for a revoked refresh token.
- `GET /calendar/v3/calendars/{id}/events` with `singleEvents=true`: a full listing of the window
  (`timeMin`/`timeMax`, cancelled instances left out) or the changes since a `syncToken`
  (cancelled and deleted entries included, as the real API does), paged by `pageToken`, the last
  page carrying `nextSyncToken`; 410 Gone for a token that has been expired; 401 for an expired
  access token; 429 or 403 rateLimitExceeded with `Retry-After` when told to.

Events are stored as the API's JSON instances (what singleEvents=true returns), per user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.calendars.providers.serving import CalendarDouble

SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def service_account(email: str = "vomeet-reader@example-project.iam.gserviceaccount.com") -> tuple[dict[str, str], Any]:
    """A service account key file's JSON (as Google gives it) and the public key to verify with."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key = {"type": "service_account", "client_email": email, "private_key": pem, "private_key_id": "k1",
           "client_id": "1234567890"}
    return key, private.public_key()


@dataclass
class GoogleDouble(CalendarDouble):  # events: instances as singleEvents=true lists them
    client_id: str = "box-client.apps.googleusercontent.com"
    client_secret: str = "box-client-secret"
    page_size: int = 2
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    access_tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # code -> (user, challenge, redirect)
    service_accounts: dict[str, Any] = field(default_factory=dict)  # client_email -> public key
    expired_sync_tokens: bool = False
    rate_limited: list[tuple[int, int]] = field(default_factory=list)  # (status, retry-after) answers due
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, query) of API calls
    token_requests: list[dict[str, str]] = field(default_factory=list)
    consenting_user: str = "alice@example.com"  # who signs in at the authorisation endpoint
    denies: bool = False  # the person declines access there

    # --- what a test does -------------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [Route("/auth", self._authorise), Route("/token", self._token, methods=["POST"]),
                Route("/calendar/v3/calendars/{calendar_id}/events", self._events)]

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/calendar/v3"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/auth"

    def delete(self, user: str, event_id: str) -> None:
        """Delete an instance: an incremental listing shows it as a bare cancelled entry."""
        self.put(user, {"id": event_id, "status": "cancelled"})

    def issue_refresh_token(self, user: str) -> str:
        token = "1//" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = user
        return token

    def issue_code(self, user: str, code_challenge: str, redirect_uri: str) -> str:
        """What Google's consent page would redirect the user's browser with."""
        code = "4/" + secrets.token_urlsafe(16)
        self.codes[code] = (user, code_challenge, redirect_uri)
        return code

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    # --- the authorisation endpoint ------------------------------------------------------------
    async def _authorise(self, request: Request) -> Response:
        query = dict(request.query_params)
        if (query.get("client_id") != self.client_id or query.get("response_type") != "code"
                or query.get("code_challenge_method") != "S256" or query.get("scope") != SCOPE
                or not query.get("redirect_uri", "").startswith("http://127.0.0.1:")):
            return JSONResponse({"error": "invalid_request"}, 400)  # Google shows an error page, no redirect
        answer = ({"error": "access_denied"} if self.denies else
                  {"code": self.issue_code(self.consenting_user, query.get("code_challenge", ""),
                                           query["redirect_uri"]), "scope": SCOPE})
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode(answer | {'state': query.get('state', '')})}",
                                302)

    # --- the token endpoint ---------------------------------------------------------------
    def _issue(self, user: str, refresh: bool = False) -> JSONResponse:
        access = "ya29." + secrets.token_urlsafe(24)
        self.access_tokens[access] = user
        body: dict[str, Any] = {"access_token": access, "expires_in": 3599, "token_type": "Bearer", "scope": SCOPE}
        if refresh:
            body["refresh_token"] = self.issue_refresh_token(user)
        return JSONResponse(body)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        grant = form.get("grant_type")
        if grant == JWT_GRANT:
            return self._jwt_grant(form.get("assertion", ""))
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, 401)
        if grant == "refresh_token":
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return JSONResponse({"error": "invalid_grant",
                                     "error_description": "Token has been expired or revoked."}, 400)
            return self._issue(user)
        if grant == "authorization_code":
            found = self.codes.pop(form.get("code", ""), None)
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
            if found is None or found[1] != challenge or found[2] != form.get("redirect_uri"):
                return JSONResponse({"error": "invalid_grant"}, 400)
            return self._issue(found[0], refresh=True)
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    def _jwt_grant(self, assertion: str) -> Response:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header, claims = json.loads(_unb64(header_b64)), json.loads(_unb64(claims_b64))
            public = self.service_accounts[claims["iss"]]
            public.verify(_unb64(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())
        except (ValueError, KeyError, InvalidSignature):
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
        now = time.time()
        if (header.get("alg") != "RS256" or claims.get("aud") != self.token_url or claims.get("scope") != SCOPE
                or not claims.get("iat", 0) - 60 <= now < claims.get("exp", 0)):
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT claims."}, 400)
        if claims.get("sub") not in self.events:
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid email or User ID"}, 400)
        return self._issue(claims["sub"])

    # --- events.list -------------------------------------------------------------------------
    async def _events(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.requests.append((request.url.path, query))
        user = self.access_tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if user is None:
            return JSONResponse({"error": {"code": 401, "message": "Invalid Credentials",
                                           "errors": [{"reason": "authError"}]}}, 401)
        if self.rate_limited:
            status, retry_after = self.rate_limited.pop(0)
            reason = "rateLimitExceeded"
            return JSONResponse({"error": {"code": status, "errors": [{"reason": reason}]}}, status,
                                headers={"Retry-After": str(retry_after)})
        assert query.get("singleEvents") == "true", "the box asks for instances"
        mine = self.events.get(user, {})
        if "syncToken" in query:
            assert "timeMin" not in query and "timeMax" not in query, "the API refuses a range with a sync token"
            if self.expired_sync_tokens:
                return JSONResponse({"error": {"code": 410, "message": "Sync token is no longer valid",
                                               "errors": [{"reason": "fullSyncRequired"}]}}, 410)
            since = int(query["syncToken"].split(":")[1])
            found = [e for i, e in mine.items() if self.changed[(user, i)] > since]
        else:
            low, high = _parse(query["timeMin"]), _parse(query["timeMax"])
            found = [e for e in mine.values() if e.get("status") != "cancelled"
                     and _utc(e["end"]) > low and _utc(e["start"]) < high]
        offset = int(query.get("pageToken", "0"))
        page = found[offset:offset + self.page_size]
        body: dict[str, Any] = {"kind": "calendar#events", "items": page}
        if offset + self.page_size < len(found):
            body["nextPageToken"] = str(offset + self.page_size)
        else:
            body["nextSyncToken"] = f"sync:{self.seq}"
        return JSONResponse(body)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _utc(moment: dict[str, str]) -> datetime:
    return _parse(moment["dateTime"] if "dateTime" in moment else moment["date"] + "T00:00:00Z")
