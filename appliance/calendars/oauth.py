"""OAuth 2.0 token grants for the Google and Microsoft calendar providers.

A box on a LAN has no public redirect URL, so the grants used are the ones that need none
(docs/calendars.md, "Why these sign-in flows"): the device authorisation grant (RFC 8628,
Microsoft), the authorisation code handed over by the user's own machine with its PKCE verifier
(RFC 7636, Google's installed-app loopback flow), refresh tokens, the client credentials grant
(a Microsoft app with application permissions) and the JWT bearer assertion (RFC 7523, a Google
Workspace service account with domain-wide delegation).

Token endpoint error texts never echo what was sent: the messages here are safe to store on a
connection and show.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TIMEOUT_S = 30.0
GOOGLE_CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
GOOGLE_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RECONNECT = "reconnect the calendar"


class OAuthError(Exception):
    """A grant was refused. `revoked`: the stored sign-in is no longer accepted (invalid_grant),
    so only the user signing in again can help."""

    def __init__(self, message: str, revoked: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.revoked = revoked


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_at: float  # time.time() seconds
    refresh_token: str | None = None


@dataclass(frozen=True)
class DeviceCode:
    """What the person is shown (user_code at verification_uri) and what the box polls with."""

    device_code: str
    user_code: str
    verification_uri: str
    expires_at: float
    interval_s: float
    message: str | None = None


@dataclass(frozen=True)
class DevicePending:
    """Not approved yet: poll again after `interval_s` (grown by the server's slow_down)."""

    interval_s: float


async def _post_form(token_url: str, form: dict[str, str], who: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            answer = await client.post(token_url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise OAuthError(f"{who}'s sign-in server could not be reached ({type(exc).__name__})") from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if answer.status_code >= 400 or "error" in body:
        body.setdefault("error", f"http_{answer.status_code}")
    return body


def _grant(body: dict[str, Any], who: str) -> TokenGrant:
    error = body.get("error")
    if error:
        revoked = error in ("invalid_grant", "unauthorized_client", "interaction_required")
        hint = f": {RECONNECT}" if revoked else ""
        raise OAuthError(f"{who} refused the sign-in ({error}){hint}", revoked=revoked)
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise OAuthError(f"{who}'s token answer has no access_token")
    refresh = body.get("refresh_token")
    return TokenGrant(token, time.time() + float(body.get("expires_in", 3600)),
                      refresh if isinstance(refresh, str) and refresh else None)


async def refresh(token_url: str, client_id: str, client_secret: str | None, refresh_token: str,
                  who: str, scope: str | None = None) -> TokenGrant:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    if scope:
        form["scope"] = scope
    return _grant(await _post_form(token_url, form, who), who)


async def exchange_code(token_url: str, client_id: str, client_secret: str | None, code: str,
                        code_verifier: str, redirect_uri: str, who: str) -> TokenGrant:
    """The authorisation code a browser on the user's machine obtained (loopback redirect, PKCE)."""
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": code_verifier,
            "redirect_uri": redirect_uri, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    grant = _grant(await _post_form(token_url, form, who), who)
    if grant.refresh_token is None:
        raise OAuthError(f"{who} gave no refresh token; sign in again with offline access (prompt=consent)")
    return grant


async def client_credentials(token_url: str, client_id: str, client_secret: str, scope: str,
                             who: str) -> TokenGrant:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
            "scope": scope}
    return _grant(await _post_form(token_url, form, who), who)


# --- the device authorisation grant (RFC 8628) -----------------------------------------------

async def start_device_flow(device_url: str, client_id: str, scope: str, who: str) -> DeviceCode:
    body = await _post_form(device_url, {"client_id": client_id, "scope": scope}, who)
    if body.get("error"):
        raise OAuthError(f"{who} would not start a device sign-in ({body['error']})")
    try:
        return DeviceCode(
            device_code=str(body["device_code"]), user_code=str(body["user_code"]),
            verification_uri=str(body.get("verification_uri") or body["verification_url"]),
            expires_at=time.time() + float(body.get("expires_in", 900)),
            interval_s=float(body.get("interval", 5)), message=body.get("message"))
    except KeyError as exc:
        raise OAuthError(f"{who}'s device sign-in answer lacks {exc.args[0]}") from None


async def poll_device_flow(token_url: str, client_id: str, device_code: str, interval_s: float,
                           who: str) -> TokenGrant | DevicePending:
    """One poll of the token endpoint: the tokens once the person approved, else pending."""
    form = {"grant_type": DEVICE_GRANT, "client_id": client_id, "device_code": device_code}
    body = await _post_form(token_url, form, who)
    error = body.get("error")
    if error == "authorization_pending":
        return DevicePending(interval_s)
    if error == "slow_down":  # RFC 8628 3.5: add 5 seconds to the interval
        return DevicePending(interval_s + 5)
    if error == "expired_token":
        raise OAuthError(f"the {who} sign-in code expired before it was approved; start again")
    if error in ("access_denied", "authorization_declined"):
        raise OAuthError(f"the {who} sign-in was declined")
    return _grant(body, who)


# --- the JWT bearer assertion of a Google service account (RFC 7523) ---------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_assertion(key: dict[str, str], subject: str, scope: str, token_url: str,
                              now: float | None = None) -> str:
    """A JWT signed with the service account's private key (RS256) asking to act as `subject`
    (domain-wide delegation): the user whose calendar is read."""
    private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise OAuthError("the service account key is not an RSA key")
    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    if key.get("private_key_id"):
        header["kid"] = key["private_key_id"]
    claims = {"iss": key["client_email"], "sub": subject, "scope": scope, "aud": token_url,
              "iat": issued, "exp": issued + 3600}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


async def service_account_token(key: dict[str, str], subject: str, scope: str, token_url: str,
                                who: str) -> TokenGrant:
    assertion = service_account_assertion(key, subject, scope, token_url)
    return _grant(await _post_form(token_url, {"grant_type": GOOGLE_JWT_GRANT, "assertion": assertion}, who), who)


def parse_service_account_key(text: str) -> dict[str, str]:
    """The JSON key file Google gives for a service account, checked for what the grant uses."""
    try:
        key = json.loads(text)
    except ValueError:
        raise OAuthError("the service account key is not JSON (upload the key file Google gave)") from None
    missing = [f for f in ("client_email", "private_key") if not isinstance(key, dict) or not key.get(f)]
    if missing:
        raise OAuthError(f"the service account key lacks {', '.join(missing)}")
    return {k: str(v) for k, v in key.items() if isinstance(v, str)}
