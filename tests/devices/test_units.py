"""The parts of pairing that need no server: whose requests count together, the sliding window,
and that a device token's use is written down at most once a minute."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.db.engine import Database
from appliance.devices.limits import SlidingWindow, normalised_address
from appliance.devices.paired import PairedDevices
from appliance.devices.pairing import Pairing
from tests.db_helpers import migrated_settings_with_user


def test_addresses_that_are_one_host_count_as_one() -> None:
    assert normalised_address("10.1.2.3") == "10.1.2.3"
    assert normalised_address("::ffff:10.1.2.3") == "10.1.2.3"
    assert normalised_address("2001:db8:1:2::1") == normalised_address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert normalised_address("2001:db8:1:3::1") != normalised_address("2001:db8:1:2::1")
    assert normalised_address("fe80::1%eth0") == "fe80::/64"


def test_the_window_refuses_over_the_limit_and_says_when_to_come_back() -> None:
    now = [100.0]
    window = SlidingWindow(2, 60.0, clock=lambda: now[0])
    assert [window.take("a"), window.take("a"), window.take("b")] == [0, 0, 0]
    now[0] = 130.5
    assert window.take("a") == 30  # the first of the two leaves the window at 160
    now[0] = 160.0
    assert window.take("a") == 0


def test_a_device_tokens_use_is_noted_at_most_once_a_minute(tmp_path: Path) -> None:
    settings = migrated_settings_with_user(tmp_path / "data", "ida@example.com")
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute("INSERT INTO api_tokens (id, user_id, prefix, token_hash, created_at) "
                     "VALUES (7, 1, 'vmt_x', 'h', '2026-01-01 00:00:00')")
        conn.execute("INSERT INTO devices (device_id, name, version, public_key, user_id, token_id, paired_at, "
                     "paired_by) VALUES ('d1', 'Ida', '1', 'k', 1, 7, '2026-01-01 00:00:00', 'ida')")

    def last_address() -> str | None:
        with closing(sqlite3.connect(settings.database_path)) as conn:
            return conn.execute("SELECT last_address FROM devices").fetchone()[0]

    async def scenario() -> list[str | None]:
        now = [0.0]
        db = Database(settings)
        paired = PairedDevices(db, clock=lambda: now[0])
        seen = []
        try:
            for at, address in ((0.0, "10.0.0.1"), (59.0, "10.0.0.2"), (61.0, "10.0.0.3")):
                now[0] = at
                await paired.note_use(7, address)
                seen.append(last_address())
        finally:
            await db.dispose()
        return seen

    assert asyncio.run(scenario()) == ["10.0.0.1", "10.0.0.1", "10.0.0.3"]


def test_ended_requests_and_long_gone_sightings_are_cleaned_up(tmp_path: Path) -> None:
    settings = migrated_settings_with_user(tmp_path / "data", "joan@example.com")
    now = datetime.now(timezone.utc).replace(tzinfo=None)

    def at(**ago: float) -> str:
        return str(now - timedelta(**ago))

    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        for request_id, state, created, decided in (
            ("expired-long-ago", "pending", at(hours=2), None),
            ("rejected-long-ago", "rejected", at(hours=2), at(hours=1, minutes=59)),
            ("expired-just-now", "pending", at(minutes=6), None),
            ("live", "pending", at(minutes=1), None),
        ):
            conn.execute(
                "INSERT INTO pairing_requests (request_id, device_id, name, version, public_key, client_nonce, "
                "server_nonce, fingerprint, address, state, created_at, expires_at, decided_at) "
                "VALUES (?, 'd', 'n', 'v', 'k', 'c', 's', 'f', 'a', ?, ?, datetime(?, '+5 minutes'), ?)",
                (request_id, state, created, created, decided),
            )
        for device_id, gone in (("gone-long-ago", at(days=2)), ("gone-now", at(minutes=1)), ("here", None)):
            conn.execute("INSERT INTO device_sightings (device_id, name, version, addresses, port, seen_at, gone_at) "
                         "VALUES (?, 'n', 'v', '[]', 1, ?, ?)", (device_id, at(days=3), gone))

    async def scenario() -> list[str]:
        db = Database(settings)
        try:
            return [r.request_id for r in await Pairing(db, lambda: "f" * 64, 300, 10, 60).waiting()]
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == ["live"]
    with closing(sqlite3.connect(settings.database_path)) as conn:
        requests = {r for (r,) in conn.execute("SELECT request_id FROM pairing_requests")}
        sightings = {d for (d,) in conn.execute("SELECT device_id FROM device_sightings")}
    # An hour after it ended a request goes; until then its poll still says what became of it.
    assert requests == {"expired-just-now", "live"}
    assert sightings == {"gone-now", "here"}
