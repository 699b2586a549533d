"""Paired devices: a user's list, revoking, and noting each use of a device token."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select, update

from appliance.db.engine import Database
from appliance.db.models import ApiToken, Device, utcnow
from appliance.errors import NotFound
from appliance.security import hash_secret

REVOKED = "This device was revoked; pair it again."
# Last seen is a hint for people: written at most once a minute per token.
NOTE_EVERY_S = 60.0
NOTED_AT_MOST = 4096


class PairedDevices:
    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._clock = clock
        self._noted: dict[int, float] = {}

    async def of_user(self, user_id: int | None) -> list[Device]:
        """A user's devices (None: everyone's), paired ones first, newest first."""
        query = select(Device).order_by(Device.revoked_at.is_not(None), Device.paired_at.desc())
        if user_id is not None:
            query = query.where(Device.user_id == user_id)
        async with self.db.session() as session:
            return list((await session.scalars(query)).all())

    async def revoke(self, device_pk: int, user_id: int | None) -> int | None:
        """Revoke a device (of `user_id`; None: an administrator's, any). Returns the id of the
        token it held, whose open sockets the caller closes; NotFound if it is not theirs."""
        async with self.db.session() as session:
            device = await session.get(Device, device_pk)
            if device is None or (user_id is not None and device.user_id != user_id):
                raise NotFound(f"There is no device {device_pk} of yours.")
            token_id = device.token_id
            if device.revoked_at is None:
                device.revoked_at = utcnow()
            if token_id is not None:
                token = await session.get(ApiToken, token_id)
                if token is not None:
                    device.revoked_token_hash = token.token_hash  # to say why its next use fails
                    await session.delete(token)
                device.token_id = None
            await session.commit()
        return token_id

    async def note_use(self, token_id: int, address: str) -> None:
        """A token was used: if it is a device's, that device was seen at `address`. Costs one
        UPDATE per token a minute (none for a token checked within the minute)."""
        now = self._clock()
        if now - self._noted.get(token_id, -NOTE_EVERY_S) < NOTE_EVERY_S:
            return
        if len(self._noted) > NOTED_AT_MOST:
            self._noted.clear()  # forgetting only costs one more UPDATE per token
        self._noted[token_id] = now
        async with self.db.session() as session:
            await session.execute(
                update(Device).where(Device.token_id == token_id)
                .values(last_seen_at=utcnow(), last_address=address)
            )
            await session.commit()

    async def revoked_message(self, secret: str) -> str | None:
        """For a refused token: the reason to give if it was a revoked device's."""
        async with self.db.session() as session:
            found = await session.scalar(
                select(Device.id).where(Device.revoked_token_hash == hash_secret(secret)).limit(1)
            )
        return REVOKED if found is not None else None


def device_state(device: Device) -> str:
    return "revoked" if device.revoked_at is not None else "paired"

