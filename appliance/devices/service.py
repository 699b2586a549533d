"""The device services of the API process, built once at start-up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.devices.paired import PairedDevices
from appliance.devices.pairing import Pairing
from appliance.devices.registry import SightingRegistry


@dataclass
class Devices:
    sightings: SightingRegistry
    pairing: Pairing
    paired: PairedDevices

    @classmethod
    def build(cls, settings: Settings, db: Database, fingerprint: Callable[[], str | None]) -> Devices:
        """`fingerprint`: the certificate served now (None with TLS off), which the codes bind."""
        pairing = Pairing(
            db, fingerprint, settings.pairing_expiry_s, settings.pairing_request_limit,
            settings.pairing_poll_limit,
        )
        return cls(SightingRegistry(db), pairing, PairedDevices(db))
