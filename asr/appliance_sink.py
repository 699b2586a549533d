"""The ASR server's segment sink: forwards each bot stream's segments to the appliance.

Runs inside `vomeet asr`. Each stream gets a stable id prefix (its uid and the moment its audio
started), so its n-th completed segment has the same `segment_id` however often it is sent, and
a stream re-opened after a reconnect never collides with the previous one. Sending never blocks
transcription: completed segments are first committed to the spool (asr.spool),
then sent in order and retried until the appliance takes them; only the newest partial is kept
(in memory), since a newer partial replaces an older one anyway. The ASR server hands the sink a
segment before it tells the streaming client (asr.server), so a segment the bot has seen, and
whose audio it has therefore dropped, is always on disk. A restarted sink (`start`) replays what
its spool still owes.

It speaks to the appliance only over HTTP (`/internal/bot/segments`, `/internal/bot/command`) and
imports nothing of it: `vomeet asr`'s wiring (asr.cli) hands it the appliance's URL, the spool's
path and the crash tests' fault point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from asr.backoff import Backoff
from asr.protocol import Segment, StreamConfig
from asr.sink import StreamInfo
from asr.spool import MEMORY, SegmentSpool, StreamKey

log = logging.getLogger(__name__)
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)
MAX_BATCH = 200  # completed segments per post (the appliance takes up to 500)


@dataclass
class Outbox:
    """What one stream still owes the appliance."""

    key: StreamKey
    language: str | None = None
    completed_count: int = 0
    pending_completed: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, Any] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def segment_id(self, index: int) -> str:
        return f"{self.key.uid}:{int(self.key.started_at * 1000)}:{index}"


class ApplianceSink:
    """A SegmentSink (asr.sink) for `vomeet asr --appliance-url`.

    `after_spool` runs right after a completed segment is spooled (the wiring passes the
    `asr.after_spool` fault point there)."""

    def __init__(self, api_url: str, client: httpx.AsyncClient | None = None,
                 spool_path: Path | str = MEMORY, after_spool: Callable[[], None] | None = None) -> None:
        self._client = client or httpx.AsyncClient(base_url=api_url, timeout=10)
        self.spool = SegmentSpool(spool_path)
        self._after_spool = after_spool
        self._outboxes: dict[int, Outbox] = {}
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._replays: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Replay what an earlier run spooled and the appliance has not taken, stream by stream."""
        streams: dict[StreamKey, Outbox] = {}
        for owed in self.spool.owed():
            box = streams.setdefault(owed.stream, Outbox(owed.stream, closed=True))
            box.pending_completed.append(owed.entry)
        for box in streams.values():
            log.info("replaying %d spooled segments of stream %s", len(box.pending_completed), box.key.uid)
            box.wake.set()
            task = asyncio.create_task(self._send_loop(box))
            self._replays.add(task)
            task.add_done_callback(self._replays.discard)

    def _outbox(self, stream: StreamInfo) -> Outbox | None:
        if not stream.token:
            return None  # not a bot's stream: nothing to store
        key = id(stream)
        box = self._outboxes.get(key)
        if box is None:
            extra = stream.extra
            started_at = float(extra.get("audio_started_at") or stream.connected_at or time.time())
            box = Outbox(StreamKey(stream.uid, started_at, extra.get("speaker"), stream.token), stream.language)
            self._outboxes[key] = box
            self._senders[key] = asyncio.create_task(self._send_loop(box))
        return box

    async def on_segments(self, stream_info: StreamInfo, segments: list[Segment]) -> None:
        box = self._outbox(stream_info)
        if box is None:
            return
        for segment in segments:
            if segment.completed:
                entry = self._entry(box, box.completed_count, segment)
                box.completed_count += 1
                box.partial = None
                # Blank text is nothing to store; a re-emitted id was taken before and is frozen.
                if entry["text"].strip() and self.spool.add(box.key, entry):
                    box.pending_completed.append(entry)
                    if self._after_spool is not None:
                        self._after_spool()
            else:
                box.partial = self._entry(box, box.completed_count, segment)
        box.wake.set()

    async def on_stream_closed(self, stream_info: StreamInfo) -> None:
        """Flush what the stream still owes, then forget it."""
        key = id(stream_info)
        box = self._outboxes.pop(key, None)
        sender = self._senders.pop(key, None)
        if box is None or sender is None:
            return
        box.closed = True
        box.wake.set()
        await sender

    @staticmethod
    def _entry(box: Outbox, index: int, segment: Segment) -> dict[str, Any]:
        return {
            "segment_id": box.segment_id(index),
            "start": round(max(0.0, segment.start), 3),
            "end": round(max(segment.start, segment.end), 3),
            "text": segment.text,
            "completed": segment.completed,
            "language": box.language,
        }

    async def _send_loop(self, box: Outbox) -> None:
        backoff = Backoff(RETRY_DELAYS_S)
        while True:
            await box.wake.wait()
            box.wake.clear()
            while box.pending_completed or box.partial:
                completed = box.pending_completed[:MAX_BATCH]
                sent_partial = box.partial if len(completed) == len(box.pending_completed) else None
                batch = [*completed, *([sent_partial] if sent_partial else [])]
                outcome = await self._post(box, batch)
                if outcome == "retry":
                    await backoff.wait()
                    continue
                backoff.reset()
                if outcome == "refused":  # the meeting is long over, or the token is not its
                    self.spool.taken([entry["segment_id"] for entry in box.pending_completed], "refused")
                    box.pending_completed.clear()
                    box.partial = None
                    break
                self.spool.taken([entry["segment_id"] for entry in completed])
                del box.pending_completed[:len(completed)]
                if sent_partial is not None and box.partial is sent_partial:
                    box.partial = None
            if box.closed:
                return

    async def _post(self, box: Outbox, batch: list[dict[str, Any]]) -> str:
        body = {
            "stream": {"uid": box.key.uid, "speaker": box.key.speaker, "started_at": box.key.started_at},
            "segments": batch,
        }
        try:
            answer = await self._client.post(
                "/internal/bot/segments", json=body, headers={"Authorization": f"Bearer {box.key.token}"}
            )
        except httpx.TransportError as exc:
            log.warning("appliance unreachable for stream %s (%s); will retry", box.key.uid, exc)
            return "retry"
        if answer.status_code == 200:
            return "sent"
        if answer.status_code in (401, 403, 422):
            log.error("appliance refused segments of stream %s: %s", box.key.uid, answer.text[:200])
            return "refused"
        return "retry"

    async def authorize(self, config: StreamConfig) -> str | None:
        """Check a stream's bot token before any audio is taken (None = allowed).

        A stream without a token is a plain WhisperLive client: it is transcribed and answered
        but nothing is stored. A stream with a token must name a live meeting."""
        token = config.token
        if not token:
            return None
        try:
            answer = await self._client.get(
                "/internal/bot/command", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TransportError as exc:
            log.warning("could not check a bot token with the appliance (%s); accepting the stream", exc)
            return None  # the spool keeps the segments until the appliance can judge them
        if answer.status_code == 401:
            return "invalid or expired bot token"
        return None

    async def close(self) -> None:
        tasks = [*self._senders.values(), *self._replays]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()
        self.spool.close()
