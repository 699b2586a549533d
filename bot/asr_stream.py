"""One channel's WhisperLive stream to the ASR server, named after its speaker (or none, for a
mixed channel).

A stream keeps the audio that no completed segment covers yet; after a reconnect (ASR restart,
network, a language change) it sends it again, so nothing is lost. The handshake and the
server's answers are asr.protocol's; reconnects wait asr.backoff's delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass, replace

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from asr import protocol
from asr.backoff import Backoff
from asr.protocol import SAMPLE_RATE
from bot.sender import RECONNECT_DELAYS_S, finish_or_cancel

log = logging.getLogger("vomeet.bot.audio")
BYTES_PER_SAMPLE = 4  # float32, as the page kit sends and the ASR server takes
KEEP_UNCOVERED_S = 120.0  # audio kept for a resend while the ASR server is away


@dataclass
class StreamSettings:
    url: str
    token: str
    meeting_id: int
    language: str | None
    task: str


class AsrStream:
    """One channel's WhisperLive stream, resent from the last completed segment on reconnect."""

    def __init__(self, settings: StreamSettings, uid: str, speaker: str | None) -> None:
        self.settings = settings
        self.uid = uid
        self.speaker = speaker
        self._blocks: deque[tuple[float, bytes]] = deque()  # (unix time of first sample, pcm)
        self._sent = 0  # blocks of _blocks already sent on the current connection
        self._wake = asyncio.Event()
        self._closing = False
        self._reconnect = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"asr-{uid}")
        self.segments_seen = 0

    def push(self, started_at: float, pcm: bytes) -> None:
        self._blocks.append((started_at, pcm))
        while self._blocks and self._blocks[-1][0] - self._blocks[0][0] > KEEP_UNCOVERED_S:
            self._blocks.popleft()
            self._sent = max(0, self._sent - 1)
        self._wake.set()

    def reconfigure(self, language: str | None, task: str) -> None:
        self.settings = replace(self.settings, language=language, task=task)
        self._reconnect.set()
        self._wake.set()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        log.info("ASR stream %s closing (%d segment updates received)", self.uid, self.segments_seen)
        await finish_or_cancel(self._task)

    def _drop_covered(self, end_s: float, stream_start: float) -> None:
        """Forget blocks that a completed segment (ending `end_s` into the stream) covers."""
        covered_until = stream_start + end_s
        while len(self._blocks) > 1 and self._sent > 1:
            start, pcm = self._blocks[0]
            if start + len(pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE > covered_until:
                break
            self._blocks.popleft()
            self._sent -= 1

    async def _run(self) -> None:
        backoff = Backoff(RECONNECT_DELAYS_S)
        while not (self._closing and not self._blocks):
            if not self._blocks:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._session()
                backoff.reset()
                if self._closing:
                    return
            except (OSError, WebSocketException, TimeoutError, ConnectionClosed, InvalidStatus) as exc:
                if self._closing:
                    return
                if backoff.failures == 0:
                    log.warning("ASR stream %s: %s; retrying, audio is kept", self.uid, exc)
                await backoff.wait()

    async def _session(self) -> None:
        s = self.settings
        stream_start = self._blocks[0][0]
        config = protocol.config_frame(
            self.uid, language=s.language, task=s.task, use_vad=True,
            token=s.token, meeting_id=str(s.meeting_id),
            speaker=self.speaker, audio_started_at=stream_start,
        )
        async with connect(s.url, open_timeout=10, max_size=None, ping_interval=20) as ws:
            await ws.send(config)
            while True:
                answer = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if protocol.is_ready(answer):
                    break
                if protocol.is_wait(answer):
                    raise TimeoutError(f"the ASR server is full (wait {answer.get('message')} min)")
                if protocol.is_error(answer):
                    raise OSError(f"the ASR server refused the stream: {answer.get('message')}")
            log.info("ASR stream %s (speaker %s) open from %.3f", self.uid, self.speaker, stream_start)
            self._sent = 0
            self._reconnect.clear()
            reader = asyncio.create_task(self._read(ws, stream_start))
            try:
                while True:
                    while self._sent < len(self._blocks):
                        await ws.send(self._blocks[self._sent][1])
                        self._sent += 1
                    if self._closing:
                        with contextlib.suppress(Exception):
                            await ws.send(protocol.END_OF_AUDIO)
                        self._blocks.clear()
                        return
                    if self._reconnect.is_set():
                        return  # a new configuration: open again, resend what is not covered
                    if reader.done():
                        reader.result()
                        raise ConnectionClosed(None, None)
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 1)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    async def _read(self, ws: ClientConnection, stream_start: float) -> None:
        async for message in ws:
            if isinstance(message, bytes):
                continue
            answer = json.loads(message)
            segments = protocol.segments_of(answer)
            ends = [float(seg["end"]) for seg in segments if seg.get("completed")]
            if segments and not self.segments_seen:
                log.info("ASR stream %s: first text %r", self.uid, segments[-1].get("text", "")[:60])
            self.segments_seen += len(segments)
            if ends:
                self._drop_covered(max(ends), stream_start)
            if protocol.is_disconnect(answer):
                return
