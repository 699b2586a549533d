"""What the mDNS browser reports of desktop clients, recorded for the Devices page: the
`SightingSink` of appliance/discovery/sightings.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from appliance.db.engine import Database
from appliance.db.models import Device, DeviceSighting, PairingRequest, utcnow
from appliance.discovery.sightings import ClientSighting


class SightingRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def client_seen(self, sighting: ClientSighting) -> None:
        async with self.db.session() as session:
            row = await session.scalar(select(DeviceSighting).where(DeviceSighting.device_id == sighting.device_id))
            if row is None:
                row = DeviceSighting(device_id=sighting.device_id)
                session.add(row)
            row.name, row.version, row.port = sighting.name, sighting.version, sighting.port
            row.addresses = list(sighting.addresses)
            row.seen_at, row.gone_at = sighting.seen_at, None
            await session.commit()

    async def client_gone(self, device_id: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(DeviceSighting)
                .where(DeviceSighting.device_id == device_id, DeviceSighting.gone_at.is_(None))
                .values(gone_at=utcnow())
            )
            await session.commit()

    async def discovered(self, now: datetime | None = None) -> list[DeviceSighting]:
        """Sightings of clients neither paired nor asking to pair, most recently seen first."""
        now = now or utcnow()
        paired = select(Device.device_id).where(Device.revoked_at.is_(None))
        asking = select(PairingRequest.device_id).where(
            PairingRequest.state == "pending", PairingRequest.expires_at > now
        )
        query = (
            select(DeviceSighting)
            .where(DeviceSighting.device_id.not_in(paired), DeviceSighting.device_id.not_in(asking))
            .order_by(DeviceSighting.seen_at.desc())
        )
        async with self.db.session() as session:
            return list((await session.scalars(query)).all())
