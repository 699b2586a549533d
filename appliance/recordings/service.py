"""Recordings of meetings: opened on a bot's first audio, finished when the meeting ends.

One Ogg/Opus file per meeting execution (`recordings/<recording id>/audio.ogg`); the bot may
reconnect any number of times and its audio is appended to the same file. A recording left
open by a crash is closed at the next start with whatever reached the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import av
import numpy as np
from sqlalchemy import select

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import MediaFile, Meeting, Recording, utcnow
from appliance.events import Event, StatusChanged
from appliance.recordings.opus_writer import OpusWriter

log = logging.getLogger(__name__)
FILE_NAME = "audio.ogg"
ReadyCallback = Callable[[Meeting, Recording], Awaitable[None]]


@dataclass
class _Open:
    recording_id: int
    writer: OpusWriter
    lock: asyncio.Lock


def probe_duration_s(path: object) -> float | None:
    try:
        with av.open(str(path)) as container:
            return container.duration / 1_000_000 if container.duration else None
    except (av.FFmpegError, OSError):
        return None


class RecordingService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self._settings = settings
        self._db = db
        self._open: dict[int, _Open] = {}
        self._finished: set[int] = set()
        self._starting = asyncio.Lock()
        self._on_ready: ReadyCallback | None = None

    def set_ready_callback(self, callback: ReadyCallback) -> None:
        self._on_ready = callback

    async def append(self, meeting: Meeting, samples: np.ndarray) -> bool:
        """Add audio to the meeting's recording; False when the meeting does not record."""
        if not meeting.data.get("recording_enabled") or meeting.id in self._finished:
            return False
        current = self._open.get(meeting.id)
        if current is None:
            async with self._starting:
                current = self._open.get(meeting.id) or await self._start(meeting)
        async with current.lock:
            await asyncio.to_thread(current.writer.write, samples)
        return True

    async def _start(self, meeting: Meeting) -> _Open:
        async with self._db.session() as session:
            recording = Recording(meeting_id=meeting.id, user_id=meeting.user_id, status="recording")
            session.add(recording)
            await session.commit()
        folder = self._settings.recordings_dir / str(recording.id)
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        writer = await asyncio.to_thread(OpusWriter, folder / FILE_NAME)
        opened = self._open[meeting.id] = _Open(recording.id, writer, asyncio.Lock())
        log.info("recording %s started for meeting %s", recording.id, meeting.id)
        return opened

    async def on_event(self, event: Event) -> None:
        if isinstance(event, StatusChanged) and event.status in ("completed", "failed"):
            await self.finish(event.meeting_id)

    async def finish(self, meeting_id: int) -> None:
        self._finished.add(meeting_id)
        current = self._open.pop(meeting_id, None)
        if current is None:
            return
        async with current.lock:
            await asyncio.to_thread(current.writer.close)
        await self._complete(current.recording_id, current.writer.duration_s)

    async def _complete(self, recording_id: int, duration_s: float | None) -> None:
        path = self._settings.recordings_dir / str(recording_id) / FILE_NAME
        async with self._db.session() as session:
            recording = await session.get(Recording, recording_id)
            if recording is None:
                return  # deleted meanwhile
            recording.status = "completed"
            recording.completed_at = utcnow()
            if path.is_file():
                session.add(
                    MediaFile(
                        recording_id=recording.id, type="audio", format="ogg",
                        storage_path=f"{recording.id}/{FILE_NAME}",
                        file_size_bytes=path.stat().st_size, duration_seconds=duration_s,
                    )
                )
            await session.commit()
            meeting = await session.get(Meeting, recording.meeting_id)
        log.info("recording %s completed (%.1f s)", recording_id, duration_s or 0)
        if self._on_ready is not None and meeting is not None:
            await self._on_ready(meeting, recording)

    async def recover(self) -> int:
        """At start: close recordings a crash left open, keeping the audio that was written."""
        async with self._db.session() as session:
            stale = (await session.scalars(select(Recording.id).where(Recording.status == "recording"))).all()
        for recording_id in stale:
            path = self._settings.recordings_dir / str(recording_id) / FILE_NAME
            await self._complete(recording_id, await asyncio.to_thread(probe_duration_s, path))
        return len(stale)

    async def close(self) -> None:
        for meeting_id in list(self._open):
            await self.finish(meeting_id)
