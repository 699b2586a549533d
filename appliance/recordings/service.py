"""Recordings of meetings: opened on a bot's first audio, finished when the meeting ends.

One Ogg/Opus file per meeting execution (`recordings/<recording id>/audio.ogg`); the bot may
reconnect any number of times and its audio is appended to the same file. When the meeting
ends, the file is closed only after the bot's audio connections have drained (or `DRAIN_S` has
passed): frames already received but not yet written are kept. A recording left open by a crash
is closed at the next start with whatever reached the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import av
import numpy as np
from sqlalchemy import select

from appliance import outbox
from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import MediaFile, Meeting, Recording, utcnow
from appliance.events import Event, StatusChanged
from appliance.recordings.opus_writer import OpusWriter

log = logging.getLogger(__name__)
FILE_NAME = "audio.ogg"
EventsCommitted = Callable[[], Awaitable[int]]  # the relay's flush
DRAIN_S = 5.0  # how long a finished meeting waits for its audio connections to drain


@dataclass
class _Open:
    recording_id: int
    writer: OpusWriter
    lock: asyncio.Lock
    closed: bool = False


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
        self._on_events_committed: EventsCommitted | None = None
        self._feeders: Counter[int] = Counter()  # open audio connections per meeting
        self._feeders_changed = asyncio.Condition()
        self._finishing: set[asyncio.Task[None]] = set()

    def set_events_committed(self, callback: EventsCommitted) -> None:
        """Called after a commit that wrote outbox events (`recording.ready`)."""
        self._on_events_committed = callback

    @asynccontextmanager
    async def feeding(self, meeting_id: int) -> AsyncIterator[None]:
        """Marks an audio connection of a meeting as open, so finishing waits for it."""
        async with self._feeders_changed:
            self._feeders[meeting_id] += 1
        try:
            yield
        finally:
            async with self._feeders_changed:
                self._feeders[meeting_id] -= 1
                if self._feeders[meeting_id] <= 0:
                    del self._feeders[meeting_id]
                self._feeders_changed.notify_all()

    async def append(self, meeting: Meeting, samples: np.ndarray) -> bool:
        """Add audio to the meeting's recording; False when the meeting does not record."""
        if not meeting.data.get("recording_enabled") or meeting.id in self._finished:
            return False
        current = self._open.get(meeting.id)
        if current is None:
            async with self._starting:
                current = self._open.get(meeting.id) or await self._start(meeting)
        async with current.lock:
            if current.closed:
                return False
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
            # In the background: the drain must not hold up the publisher of the status change.
            task = asyncio.create_task(self.finish(event.meeting_id))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

    async def finish(self, meeting_id: int, drain_s: float = DRAIN_S) -> None:
        if meeting_id in self._open:
            await self._wait_for_drain(meeting_id, drain_s)
        self._finished.add(meeting_id)
        current = self._open.pop(meeting_id, None)
        if current is None:
            return
        async with current.lock:
            current.closed = True
            await asyncio.to_thread(current.writer.close)
        await self._complete(current.recording_id, current.writer.duration_s)

    async def _wait_for_drain(self, meeting_id: int, drain_s: float) -> None:
        async with self._feeders_changed:
            try:
                await asyncio.wait_for(self._feeders_changed.wait_for(lambda: not self._feeders[meeting_id]), drain_s)
            except TimeoutError:
                log.warning(
                    "meeting %s: audio still arriving %.0f s after it ended; closing the recording", meeting_id, drain_s
                )

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
            meeting = await session.get(Meeting, recording.meeting_id)
            if meeting is not None:
                outbox.record_recording_ready(session, meeting, recording, recording.completed_at)
            await session.commit()
        log.info("recording %s completed (%.1f s)", recording_id, duration_s or 0)
        if self._on_events_committed is not None:
            await self._on_events_committed()

    async def recover(self) -> int:
        """At start: close recordings a crash left open, keeping the audio that was written."""
        async with self._db.session() as session:
            stale = (await session.scalars(select(Recording.id).where(Recording.status == "recording"))).all()
        for recording_id in stale:
            path = self._settings.recordings_dir / str(recording_id) / FILE_NAME
            await self._complete(recording_id, await asyncio.to_thread(probe_duration_s, path))
        return len(stale)

    async def close(self) -> None:
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        for meeting_id in list(self._open):
            await self.finish(meeting_id, drain_s=0)
