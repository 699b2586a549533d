"""Pairing requests: asked for by a client, decided by a person on the console, collected by the
client's signed poll (docs/pairing.md). The device token is minted when collected, so the
appliance never holds it in the clear."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.engine import Database
from appliance.db.models import ApiToken, Device, DeviceSighting, PairingRequest, User, utcnow
from appliance.devices.codes import NONCE_BYTES, PUBLIC_KEY_BYTES, decode_base64, signature_valid
from appliance.devices.limits import SlidingWindow
from appliance.errors import Conflict, DomainError, Invalid, NotFound, OverLimit
from appliance.security import USER_TOKEN_PREFIX, new_secret

# Ended requests, and sightings gone this long, are deleted.
KEEP_ENDED = timedelta(hours=1)
KEEP_GONE_SIGHTINGS = timedelta(days=1)
# So that nobody can bury the console's list under requests from many addresses.
MAX_WAITING = 20
REQUEST_WINDOW_S = 600.0
POLL_WINDOW_S = 60.0

START_AGAIN = "start pairing again on the device"
DETAILS = {
    "pending": "Waiting for approval: confirm on the console's Devices page that it shows the same code.",
    "rejected": "The code was not confirmed on the console (rejected): check that both screens show "
    f"the same code and {START_AGAIN}.",
    "expired": f"Nobody approved this request in time; it expired: {START_AGAIN}.",
    "collected": f"Already paired: the token was handed out once. If it was lost, {START_AGAIN}.",
}


class Throttled(OverLimit):
    """Too many requests; the caller may try again after `retry_after_s` (the routes add it as
    Retry-After; anywhere else it is still a 429)."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class BadSignature(DomainError):
    """A poll not signed with the key the request was made with."""


@dataclass(frozen=True)
class Ask:
    """What a client sends to ask for pairing."""

    device_id: str
    name: str
    version: str
    public_key: str
    nonce: str
    address: str


@dataclass(frozen=True)
class PollAnswer:
    state: str  # pending, approved, rejected, expired
    expires_at: datetime
    detail: str
    token: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class Approval:
    device: Device
    replaced_token_id: int | None  # the device's earlier token, now gone: close its sockets


def state_of(request: PairingRequest, now: datetime) -> str:
    if request.state == "pending" and now >= request.expires_at:
        return "expired"
    return request.state


class Pairing:
    def __init__(
        self, db: Database, fingerprint: Callable[[], str | None], expiry_s: float,
        request_limit: int, poll_limit: int,
    ) -> None:
        self.db = db
        self._fingerprint = fingerprint
        self.expiry = timedelta(seconds=expiry_s)
        self._per_address = SlidingWindow(request_limit, REQUEST_WINDOW_S)
        self._per_request = SlidingWindow(poll_limit, POLL_WINDOW_S)

    async def ask(self, ask: Ask) -> PairingRequest:
        fingerprint = self._fingerprint()
        if fingerprint is None:
            raise Conflict(
                "Pairing needs TLS, because the code binds the appliance's certificate: "
                "set VOMEET_TLS=on (or leave it on auto with a LAN address) and restart the appliance."
            )
        if decode_base64(ask.public_key, PUBLIC_KEY_BYTES) is None:
            raise Invalid("public_key: expected the base64 of a raw 32-byte Ed25519 public key.")
        if decode_base64(ask.nonce, NONCE_BYTES) is None:
            raise Invalid("nonce: expected the base64 of 16 random bytes.")
        wait = self._per_address.take(ask.address)
        if wait:
            raise Throttled(f"Too many pairing requests from {ask.address}; try again in {wait} s.", wait)
        now = utcnow()
        async with self.db.session() as session:
            await self._clean(session, now)
            waiting = await self._waiting(session, now)
            if len(waiting) >= MAX_WAITING:
                retry = max(1, int((min(waiting) - now).total_seconds()) + 1)
                raise Throttled(
                    f"{len(waiting)} pairing requests are waiting on the console already: approve or "
                    f"reject them there, or try again in {retry} s.", retry,
                )
            request = PairingRequest(
                request_id=secrets.token_urlsafe(24), device_id=ask.device_id, name=ask.name,
                version=ask.version, public_key=ask.public_key, client_nonce=ask.nonce,
                server_nonce=base64.b64encode(secrets.token_bytes(NONCE_BYTES)).decode("ascii"),
                fingerprint=fingerprint, address=ask.address, created_at=now,
                expires_at=now + self.expiry,
            )
            session.add(request)
            await session.commit()
        return request

    async def poll(self, request_id: str, signature: str | None) -> PollAnswer:
        wait = self._per_request.take(request_id)
        if wait:
            raise Throttled(f"Polling too often; try again in {wait} s (every 2 s is plenty).", wait)
        now = utcnow()
        async with self.db.session() as session:
            request = await session.scalar(select(PairingRequest).where(PairingRequest.request_id == request_id))
            if request is None:
                raise NotFound(f"There is no such pairing request (it ended and was cleaned up): {START_AGAIN}.")
            if not signature or not signature_valid(request.public_key, request_id, signature):
                raise BadSignature(
                    "X-Device-Signature must be the base64 Ed25519 signature of the request id, made "
                    "with the key this request was made with."
                )
            state, expires_at = state_of(request, now), request.expires_at
            if state != "approved":
                return PollAnswer(state, expires_at, DETAILS[state])
            user = await session.get(User, request.user_id)
            email = user.email if user else None
            token = await self._collect(session, request, now)
        if token is None:
            return PollAnswer(state, expires_at, DETAILS["collected"])
        return PollAnswer(state, expires_at, "Paired.", token, email)

    async def _collect(self, session: AsyncSession, request: PairingRequest, now: datetime) -> str | None:
        """Mint the device token, once: the first poll to claim the request gets it."""
        claimed = await session.execute(
            update(PairingRequest)
            .where(PairingRequest.id == request.id, PairingRequest.collected_at.is_(None))
            .values(collected_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None  # an earlier poll took it
        device = await session.scalar(
            select(Device).where(Device.device_id == request.device_id, Device.user_id == request.user_id)
        )
        if device is None or device.public_key != request.public_key:
            await session.rollback()  # its user is gone, or a later request paired it again
            return None
        secret = new_secret(USER_TOKEN_PREFIX)
        token = ApiToken(user_id=device.user_id, prefix=secret.prefix, token_hash=secret.digest)
        session.add(token)
        await session.flush()
        device.token_id, device.last_seen_at, device.last_address = token.id, now, request.address
        await session.commit()
        return secret.value

    async def approve(self, request_pk: int, user_id: int, decided_by: str) -> Approval:
        now = utcnow()
        async with self.db.session() as session:
            request = await self._undecided(session, request_pk, now)
            if await session.get(User, user_id) is None:
                raise NotFound(f"There is no user {user_id}.")
            device = await session.scalar(
                select(Device).where(Device.device_id == request.device_id, Device.user_id == user_id)
            )
            replaced = None
            if device is None:
                device = Device(device_id=request.device_id)
                session.add(device)
            elif device.token_id is not None:
                # Pairing again (a new key, a reinstall): the old token goes.
                replaced = device.token_id
                await session.execute(delete(ApiToken).where(ApiToken.id == replaced))
            device.name, device.version, device.public_key = request.name, request.version, request.public_key
            device.user_id, device.paired_at, device.paired_by = user_id, now, decided_by
            # Its token is minted when collected; until then the device holds none.
            device.token_id = device.revoked_at = device.revoked_token_hash = None
            request.state, request.decided_at, request.decided_by = "approved", now, decided_by
            request.user_id = user_id
            await session.commit()
        return Approval(device, replaced)

    async def reject(self, request_pk: int, decided_by: str) -> PairingRequest:
        now = utcnow()
        async with self.db.session() as session:
            request = await self._undecided(session, request_pk, now)
            request.state, request.decided_at, request.decided_by = "rejected", now, decided_by
            await session.commit()
        return request

    async def waiting(self) -> list[PairingRequest]:
        """Live requests, oldest first (the console's "Asking to pair")."""
        now = utcnow()
        async with self.db.session() as session:
            await self._clean(session, now)
            query = (
                select(PairingRequest)
                .where(PairingRequest.state == "pending", PairingRequest.expires_at > now)
                .order_by(PairingRequest.id)
            )
            return list((await session.scalars(query)).all())

    @staticmethod
    async def _undecided(session: AsyncSession, request_pk: int, now: datetime) -> PairingRequest:
        request = await session.get(PairingRequest, request_pk)
        if request is None:
            raise NotFound(f"There is no pairing request {request_pk}; the device must start pairing again.")
        state = state_of(request, now)
        if state == "expired":
            raise Conflict(f"The request from {request.name} has expired; the device must start pairing again.")
        if state != "pending":
            raise Conflict(f"The request from {request.name} was {state} already.")
        return request

    @staticmethod
    async def _waiting(session: AsyncSession, now: datetime) -> list[datetime]:
        query = select(PairingRequest.expires_at).where(
            PairingRequest.state == "pending", PairingRequest.expires_at > now
        )
        return list((await session.scalars(query)).all())

    @staticmethod
    async def _clean(session: AsyncSession, now: datetime) -> None:
        """Requests ended an hour ago (expired, decided) and sightings gone a day ago go."""
        cutoff = now - KEEP_ENDED
        await session.execute(
            delete(PairingRequest).where(
                (PairingRequest.expires_at < cutoff)
                & ((PairingRequest.state == "pending") | (PairingRequest.decided_at < cutoff))
            )
        )
        await session.execute(delete(DeviceSighting).where(DeviceSighting.gone_at < now - KEEP_GONE_SIGHTINGS))
        await session.commit()

