"""The ASR server's segment sink: forwards each bot stream's segments to the appliance.

Runs inside `vomeet asr`. Each stream gets a stable id prefix (its uid and the moment its audio
started), so its n-th completed segment has the same `segment_id` however often it is sent, and
a stream re-opened after a reconnect never collides with the previous one. Sending never blocks
transcription: completed segments wait in a per-stream outbox (never dropped, sent in order,
retried until the appliance takes them) and only the newest partial is kept, since a newer
partial replaces an older one anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class StreamLike(Protocol):
    uid: str
    token: str | None
    language: str | None
    connected_at: float


class SegmentLike(Protocol):
    start: float
    end: float
    text: str
    completed: bool


@dataclass
class Outbox:
    """What one stream still owes the appliance."""

    token: str
    uid: str
    speaker: str | None
    started_at: float
    language: str | None
    completed_count: int = 0
    pending_completed: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, Any] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def segment_id(self, index: int) -> str:
        return f"{self.uid}:{int(self.started_at * 1000)}:{index}"


def _stream_extra(stream: Any) -> dict[str, Any]:
    return dict(getattr(stream, "extra", None) or {})


class ApplianceSink:
    def __init__(self, api_url: str, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(base_url=api_url, timeout=10)
        self._outboxes: dict[int, Outbox] = {}
        self._senders: dict[int, asyncio.Task[None]] = {}

    def _outbox(self, stream: StreamLike) -> Outbox | None:
        if not stream.token:
            return None  # not a bot's stream: nothing to store
        key = id(stream)
        box = self._outboxes.get(key)
        if box is None:
            extra = _stream_extra(stream)
            box = Outbox(
                token=stream.token,
                uid=stream.uid,
                speaker=extra.get("speaker"),
                started_at=float(extra.get("audio_started_at") or stream.connected_at or time.time()),
                language=stream.language,
            )
            self._outboxes[key] = box
            self._senders[key] = asyncio.create_task(self._send_loop(key, box))
        return box

    async def on_segments(self, stream_info: StreamLike, segments: list[SegmentLike]) -> None:
        box = self._outbox(stream_info)
        if box is None:
            return
        for segment in segments:
            if segment.completed:
                entry = self._entry(box, box.completed_count, segment)
                box.completed_count += 1
                box.pending_completed.append(entry)
                box.partial = None
            else:
                box.partial = self._entry(box, box.completed_count, segment)
        box.wake.set()

    async def on_stream_closed(self, stream_info: StreamLike) -> None:
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
    def _entry(box: Outbox, index: int, segment: SegmentLike) -> dict[str, Any]:
        return {
            "segment_id": box.segment_id(index),
            "start": round(max(0.0, segment.start), 3),
            "end": round(max(segment.start, segment.end), 3),
            "text": segment.text,
            "completed": segment.completed,
            "language": box.language,
        }

    async def _send_loop(self, key: int, box: Outbox) -> None:
        attempt = 0
        while True:
            await box.wake.wait()
            box.wake.clear()
            while box.pending_completed or box.partial:
                batch = [*box.pending_completed, *([box.partial] if box.partial else [])]
                sent_completed, sent_partial = len(box.pending_completed), box.partial
                outcome = await self._post(box, batch)
                if outcome == "retry":
                    await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                    attempt += 1
                    continue
                attempt = 0
                if outcome == "refused":
                    box.pending_completed.clear()
                    box.partial = None
                    break
                del box.pending_completed[:sent_completed]
                if box.partial is sent_partial:
                    box.partial = None
            if box.closed:
                return

    async def _post(self, box: Outbox, batch: list[dict[str, Any]]) -> str:
        body = {
            "stream": {"uid": box.uid, "speaker": box.speaker, "started_at": box.started_at},
            "segments": batch,
        }
        try:
            answer = await self._client.post(
                "/internal/bot/segments", json=body, headers={"Authorization": f"Bearer {box.token}"}
            )
        except httpx.TransportError as exc:
            log.warning("appliance unreachable for stream %s (%s); will retry", box.uid, exc)
            return "retry"
        if answer.status_code == 200:
            return "sent"
        if answer.status_code in (401, 403, 422):
            log.error("appliance refused segments of stream %s: %s", box.uid, answer.text[:200])
            return "refused"
        return "retry"

    async def authorize(self, config: Any) -> str | None:
        """Check a stream's bot token before any audio is taken (None = allowed).

        A stream without a token is a plain WhisperLive client: it is transcribed and answered
        but nothing is stored. A stream with a token must name a live meeting."""
        token = getattr(config, "token", None)
        if not token:
            return None
        try:
            answer = await self._client.get(
                "/internal/bot/command", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TransportError as exc:
            log.warning("could not check a bot token with the appliance (%s); accepting the stream", exc)
            return None  # the outbox keeps the segments until the appliance can judge them
        if answer.status_code == 401:
            return "invalid or expired bot token"
        return None

    async def close(self) -> None:
        for task in self._senders.values():
            task.cancel()
        for task in self._senders.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()
