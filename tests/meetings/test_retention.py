"""Retention: content of meetings that ended long enough ago is removed, the rest untouched."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from appliance.config import load_settings
from appliance.db import migrate
from appliance.db.engine import Database
from appliance.db.models import MediaFile, Meeting, Recording, TranscriptSegment, User, utcnow
from appliance.meetings.purge import purge_expired


async def _meeting(db: Database, user_id: int, ended_days_ago: float, settings) -> tuple[int, Path]:
    now = utcnow()
    async with db.session() as session:
        meeting = Meeting(
            user_id=user_id, platform="teams", native_meeting_id="1234567890",
            constructed_meeting_url="https://teams.live.com/meet/1234567890?p=Secret1",
            status="completed", completion_reason="stopped", end_time=now - timedelta(days=ended_days_ago),
            data={"name": "Board", "notes": "confidential", "bot_name": "Notes"},
        )
        session.add(meeting)
        await session.flush()
        session.add(
            TranscriptSegment(meeting_id=meeting.id, segment_id="s1", start=0, end=1, text="Numbers.", completed=True)
        )
        recording = Recording(meeting_id=meeting.id, user_id=user_id, status="completed")
        session.add(recording)
        await session.flush()
        folder = settings.recordings_dir / str(recording.id)
        folder.mkdir(parents=True)
        (folder / "audio.ogg").write_bytes(b"OggS")
        session.add(MediaFile(recording_id=recording.id, format="ogg", storage_path=f"{recording.id}/audio.ogg"))
        await session.commit()
        return meeting.id, folder


def test_purge_removes_only_expired_content(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", retention_days=7)
    migrate.upgrade(settings)

    async def scenario() -> None:
        db = Database(settings)
        async with db.session() as session:
            user = User(email="r@example.com")
            session.add(user)
            await session.commit()
        old_id, old_files = await _meeting(db, user.id, 10, settings)
        recent_id, recent_files = await _meeting(db, user.id, 1, settings)

        assert await purge_expired(settings, db) == 1
        assert await purge_expired(settings, db) == 0, "a purged meeting is not purged twice"

        async with db.session() as session:
            old = await session.get(Meeting, old_id)
            recent = await session.get(Meeting, recent_id)
            segments = {
                m: await session.scalar(select(func.count()).where(TranscriptSegment.meeting_id == m))
                for m in (old_id, recent_id)
            }
        await db.dispose()
        assert old is not None and recent is not None
        assert old.data == {"bot_name": "Notes", "redacted": True}
        assert "Secret1" not in old.constructed_meeting_url
        assert old.status == "completed", "the facts of the execution stay"
        assert segments == {old_id: 0, recent_id: 1}
        assert not old_files.exists() and recent_files.exists()
        assert recent.data["notes"] == "confidential"

    asyncio.run(scenario())


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", retention_days=0)
    migrate.upgrade(settings)

    async def scenario() -> tuple[int, Path]:
        db = Database(settings)
        async with db.session() as session:
            user = User(email="keep@example.com")
            session.add(user)
            await session.commit()
        _, files = await _meeting(db, user.id, 3650, settings)
        purged = await purge_expired(settings, db)
        await db.dispose()
        return purged, files

    purged, files = asyncio.run(scenario())
    assert purged == 0 and files.exists()
