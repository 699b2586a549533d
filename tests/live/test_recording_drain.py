"""RecordingService against a real, migrated SQLite database: audio received before a meeting
ended is kept, even when the meeting's end is reported before the bot's frames are written."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing

import numpy as np
import pytest

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import Meeting
from appliance.events import StatusChanged
from appliance.recordings.service import RecordingService
from tests.db_helpers import migrated_settings_with_user

ONE_SECOND = np.full(16_000, 0.1, dtype=np.float32)
Scenario = Callable[[RecordingService, Meeting], Awaitable[None]]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return migrated_settings_with_user(tmp_path_factory.mktemp("drain") / "data", "rec@example.com")


def stored_durations(settings: Settings, meeting_id: int) -> list[float]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        rows = conn.execute(
            "SELECT m.duration_seconds FROM media_files m JOIN recordings r ON r.id = m.recording_id "
            "WHERE r.meeting_id = ? AND r.status = 'completed'",
            (meeting_id,),
        ).fetchall()
    return [row[0] for row in rows]


def run_scenario(settings: Settings, scenario: Scenario) -> int:
    """Runs `scenario` with a service and a recording meeting; returns the meeting's id."""

    async def main() -> int:
        db = Database(settings)
        try:
            async with db.session() as session:
                meeting = Meeting(
                    user_id=1, platform="google_meet", native_meeting_id="abc-defg-hij",
                    constructed_meeting_url="https://meet.google.com/abc-defg-hij", status="active",
                    data={"recording_enabled": True}, transitions=[],
                )
                session.add(meeting)
                await session.commit()
            await scenario(RecordingService(settings, db), meeting)
            return meeting.id
        finally:
            await db.dispose()

    return asyncio.run(main())


def ended(meeting: Meeting) -> StatusChanged:
    return StatusChanged(
        meeting_id=meeting.id, user_id=1, platform="google_meet", native_meeting_id="abc-defg-hij",
        previous="stopping", status="completed", source="bot", reason="stopped", error_details=None,
    )


def test_frames_still_arriving_when_the_meeting_ends_are_kept(settings: Settings) -> None:
    async def scenario(service: RecordingService, meeting: Meeting) -> None:
        async with service.feeding(meeting.id):
            assert await service.append(meeting, ONE_SECOND)
            await service.on_event(ended(meeting))  # the end is published while a frame is in flight
            assert await service.append(meeting, ONE_SECOND), "the connection is still draining"
        await service.close()  # waits for the background finish
        assert not await service.append(meeting, ONE_SECOND), "after the drain the recording is closed"

    assert stored_durations(settings, run_scenario(settings, scenario)) == [pytest.approx(2.0)]


def test_a_connection_that_never_drains_does_not_keep_the_recording_open(settings: Settings) -> None:
    async def scenario(service: RecordingService, meeting: Meeting) -> None:
        async with service.feeding(meeting.id):
            assert await service.append(meeting, ONE_SECOND)
            await service.finish(meeting.id, drain_s=0.2)
            assert not await service.append(meeting, ONE_SECOND), "closed after the drain timed out"

    assert stored_durations(settings, run_scenario(settings, scenario)) == [pytest.approx(1.0)]
