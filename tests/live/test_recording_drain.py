"""RecordingService against a real, migrated SQLite database: audio received before a meeting
ended is kept, even when the meeting's end is reported before the bot's frames are written."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import numpy as np
import pytest

from appliance.config import Settings, load_settings
from appliance.db import migrate
from appliance.db.engine import Database
from appliance.db.models import Meeting
from appliance.events import StatusChanged
from appliance.recordings.service import RecordingService

ONE_SECOND = np.full(16_000, 0.1, dtype=np.float32)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    configured = load_settings(data_dir=tmp_path_factory.mktemp("drain") / "data")
    migrate.upgrade(configured)
    with closing(sqlite3.connect(configured.database_path)) as conn, conn:
        conn.execute(
            "INSERT INTO users (id, email, max_concurrent_bots, data, created_at) "
            "VALUES (1, 'rec@example.com', 1, '{}', '2026-01-01 00:00:00.000000')"
        )
    return configured


def stored_durations(settings: Settings, meeting_id: int) -> list[float]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        rows = conn.execute(
            "SELECT m.duration_seconds FROM media_files m JOIN recordings r ON r.id = m.recording_id "
            "WHERE r.meeting_id = ? AND r.status = 'completed'",
            (meeting_id,),
        ).fetchall()
    return [row[0] for row in rows]


async def recording_meeting(db: Database) -> Meeting:
    async with db.session() as session:
        meeting = Meeting(
            user_id=1, platform="google_meet", native_meeting_id="abc-defg-hij",
            constructed_meeting_url="https://meet.google.com/abc-defg-hij", status="active",
            data={"recording_enabled": True}, transitions=[],
        )
        session.add(meeting)
        await session.commit()
        return meeting


def ended(meeting: Meeting) -> StatusChanged:
    return StatusChanged(
        meeting_id=meeting.id, user_id=1, platform="google_meet", native_meeting_id="abc-defg-hij",
        previous="stopping", status="completed", source="bot", reason="stopped", error_details=None,
    )


def test_frames_still_arriving_when_the_meeting_ends_are_kept(settings: Settings) -> None:
    async def main() -> int:
        db = Database(settings)
        service = RecordingService(settings, db)
        meeting = await recording_meeting(db)
        try:
            async with service.feeding(meeting.id):
                assert await service.append(meeting, ONE_SECOND)
                await service.on_event(ended(meeting))  # the end is published while a frame is in flight
                assert await service.append(meeting, ONE_SECOND), "the connection is still draining"
            await service.close()  # waits for the background finish
            assert not await service.append(meeting, ONE_SECOND), "after the drain the recording is closed"
            return meeting.id
        finally:
            await db.dispose()

    meeting_id = asyncio.run(main())
    assert stored_durations(settings, meeting_id) == [pytest.approx(2.0)]


def test_a_connection_that_never_drains_does_not_keep_the_recording_open(settings: Settings) -> None:
    async def main() -> int:
        db = Database(settings)
        service = RecordingService(settings, db)
        meeting = await recording_meeting(db)
        try:
            async with service.feeding(meeting.id):
                assert await service.append(meeting, ONE_SECOND)
                await service.finish(meeting.id, drain_s=0.2)
                assert not await service.append(meeting, ONE_SECOND), "closed after the drain timed out"
            return meeting.id
        finally:
            await db.dispose()

    meeting_id = asyncio.run(main())
    assert stored_durations(settings, meeting_id) == [pytest.approx(1.0)]
