"""Pairing with an appliance (docs/pairing.md): the client's side of the protocol.

    pairing = Pairing(base_url, pinned_context(pems), identity, name="Alice's laptop", version="0.1.0")
    request = pairing.start(fingerprint)    # POST /devices/pair; request.code is what to show
    token, user = pairing.wait(request)     # polls until a console user approves (or raises)

`fingerprint` is the one the client saw on its own TLS connection (`client.trust`), never the
one the appliance's answer carries, so a man in the middle changes the code a person compares.
Every refusal is a `ClientError` whose message says what to do (start again, check the code).
The windows may call `poll(request)` themselves instead of `wait` (to keep a Cancel button live).
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from client.errors import ClientError, ErrorKind
from client.identity import DeviceIdentity
from client.transport import json_of, send, too_many

CODE_CONTEXT = b"vomeet-pair-v1"
NONCE_BYTES = 16
POLL_INTERVAL_S = 2.0
TIMEOUT_S = 10.0


def pairing_code(fingerprint_hex: str, public_key_raw: bytes, client_nonce: bytes, server_nonce: bytes) -> str:
    """The six digits both sides show (docs/pairing.md, step 3)."""
    digest = hashlib.sha256(
        CODE_CONTEXT + fingerprint_hex.encode("ascii") + public_key_raw + client_nonce + server_nonce
    ).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def shown(code: str) -> str:
    """`123 456`, as the console shows it."""
    return f"{code[:3]} {code[3:]}"


@dataclass(frozen=True)
class PairingRequest:
    request_id: str
    code: str  # six digits; show it with `shown(code)`
    expires_at: str  # ISO 8601, as the appliance wrote it


@dataclass(frozen=True)
class PollResult:
    state: str  # pending, approved, rejected, expired
    detail: str
    token: str | None = None
    user: str | None = None


class Pairing:
    def __init__(
        self, base_url: str, context: ssl.SSLContext, identity: DeviceIdentity, name: str, version: str
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.name = name
        self.version = version
        self._http = httpx.Client(base_url=self.base_url, verify=context, timeout=TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def start(self, fingerprint: str) -> PairingRequest:
        """Ask to pair; the answer's code is computed here, over `fingerprint` (the pinned one)."""
        nonce = os.urandom(NONCE_BYTES)
        public_key = self.identity.public_raw()
        answer = self._call("POST", "/devices/pair", json={
            "device_id": self.identity.device_id, "name": self.name, "version": self.version,
            "public_key": base64.b64encode(public_key).decode(), "nonce": base64.b64encode(nonce).decode(),
        })
        if answer.status_code == 409:
            raise ClientError(ErrorKind.REFUSED, "the appliance has TLS turned off; pairing needs it "
                              "(an administrator sets VOMEET_TLS=on)", 409)
        body = json_of(answer, 201, "asking to pair")
        try:
            server_nonce = base64.b64decode(body["server_nonce"], validate=True)
            return PairingRequest(
                str(body["request_id"]), pairing_code(fingerprint, public_key, nonce, server_nonce),
                str(body["expires_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ClientError(ErrorKind.PROTOCOL, f"the appliance's pairing answer cannot be read ({exc})") from exc

    def appliance_id(self) -> str | None:
        """The appliance's stable id from `GET /tls` (the one its mDNS TXT `id` carries), read over
        this pinned connection; None from an appliance that does not give it. A box reached by a
        typed address is then the same one as its announcement."""
        answer = self._call("GET", "/tls")
        found = json_of(answer, 200, "reading the appliance's id").get("id")
        return str(found) if found else None

    def poll(self, request: PairingRequest) -> PollResult:
        """One look at the request; raises on a rejection, an expiry or an unknown request."""
        signature = self.identity.sign(request.request_id.encode())
        answer = self._call("GET", f"/devices/pair/{request.request_id}", headers={"X-Device-Signature": signature})
        if answer.status_code == 404:
            raise ClientError(ErrorKind.PAIRING_EXPIRED, "the appliance no longer knows this pairing request; "
                              "start pairing again", 404)
        body = json_of(answer, 200, "checking the pairing request")
        state, detail = str(body.get("state")), str(body.get("detail") or "")
        if state == "rejected":
            raise ClientError(ErrorKind.PAIRING_REJECTED, detail or "the code was not confirmed on the console; "
                              "check both screens show the same code and start pairing again")
        if state == "expired":
            raise ClientError(ErrorKind.PAIRING_EXPIRED, detail or "the request expired; start pairing again")
        if state == "approved" and not body.get("token"):
            raise ClientError(ErrorKind.PAIRING_EXPIRED, detail or "already paired, but this client did not "
                              "receive the token; start pairing again")
        if state not in ("pending", "approved"):
            raise ClientError(ErrorKind.PROTOCOL, f"the appliance answered an unknown pairing state {state!r}")
        token, user = body.get("token"), body.get("user")
        return PollResult(state, detail, str(token) if token else None, str(user) if user else None)

    def wait(
        self, request: PairingRequest, cancelled: Callable[[], bool] = lambda: False,
        interval_s: float = POLL_INTERVAL_S,
    ) -> tuple[str, str]:
        """Poll until approved: (token, user). The appliance ends the request at its expiry, so
        this ends too; `cancelled` lets a window stop it sooner (then PAIRING_EXPIRED)."""
        while not cancelled():
            result = self.poll(request)
            if result.token is not None:
                return result.token, result.user or ""
            time.sleep(interval_s)  # the protocol's poll period, not a stand-in for synchronisation
        raise ClientError(ErrorKind.PAIRING_EXPIRED, "pairing was cancelled; start pairing again")

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = send(self._http, method, path, **kwargs)
        if answer.status_code == 429:
            raise too_many(answer, "pairing attempts")
        return answer
