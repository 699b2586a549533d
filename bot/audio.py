"""The meeting's audio, from the page's channels to the ASR server and the recording.

The page kit taps every remote MediaStream (one channel each) and hands the bot 400 ms blocks
of 16 kHz mono float32 with the names whose speaking indicators are on. Here:

- each channel gets a WhisperLive-protocol stream to the ASR server, named after its speaker
  (Meet: one participant per channel, recognised from the indicators while the channel carries
  speech); a mixed channel (Teams) has no speaker, and speaker turns are reported to
  `/internal/bot/speakers` instead: timed by the stream's RTP contributing sources where the page
  has them, named by the indicators (bot/speakers.py);
- a stream keeps the audio that no completed segment covers yet; after a reconnect (ASR
  restart, network, a language change) it sends it again, so nothing is lost;
- with recording enabled, the mix of all channels goes to the appliance's `/internal/bot/audio`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from asr import protocol
from asr.backoff import Backoff
from bot.speakers import SpeakerTurns

log = logging.getLogger("vomeet.bot.audio")
CLOSE_GRACE_S = 5.0


async def finish_or_cancel(task: asyncio.Task[Any]) -> None:
    """Let a sender finish what it still has to send, for a few seconds, then give it up."""
    try:
        await asyncio.wait_for(asyncio.shield(task), CLOSE_GRACE_S)
    except (TimeoutError, Exception):  # noqa: BLE001
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
SAMPLE_RATE = 16000
VOICE_RMS = 0.01  # a block louder than this carries speech
KEEP_UNCOVERED_S = 120.0  # audio kept for a resend while the ASR server is away
RECORDING_BACKLOG_S = 60.0
RECONNECT_DELAYS_S = (0.5, 1, 2, 4, 8)
TURN_FLUSH_S = 0.5


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
        self.settings = StreamSettings(self.settings.url, self.settings.token, self.settings.meeting_id, language, task)
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
            if start + len(pcm) / 4 / SAMPLE_RATE > covered_until:
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


class RecordingStream:
    """The mix of the meeting's audio to the appliance's /internal/bot/audio."""

    def __init__(self, api_url: str, token: str) -> None:
        self.url = api_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/internal/bot/audio"
        self.token = token
        self._queue: deque[bytes] = deque(maxlen=int(RECORDING_BACKLOG_S * SAMPLE_RATE / 6400) + 1)
        self._wake = asyncio.Event()
        self._closing = False
        self._refused = False
        self._task = asyncio.create_task(self._run(), name="recording")

    def push(self, pcm: bytes) -> None:
        if not self._refused:
            self._queue.append(pcm)
            self._wake.set()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        await finish_or_cancel(self._task)

    async def _run(self) -> None:
        backoff = Backoff(RECONNECT_DELAYS_S)
        while not self._refused:
            if self._closing and not self._queue:
                return
            try:
                headers = {"Authorization": f"Bearer {self.token}"}
                async with connect(self.url, additional_headers=headers, open_timeout=10, max_size=None) as ws:
                    backoff.reset()
                    while True:
                        while self._queue:
                            await ws.send(self._queue[0])
                            self._queue.popleft()
                        if self._closing:
                            return
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), 1)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in (4401, 4403, 1000):
                    log.info("the appliance ended the recording stream: %s", exc.rcvd.reason)
                    self._refused = True
                    return
            except (OSError, WebSocketException, TimeoutError) as exc:
                if backoff.failures == 0:
                    log.warning("recording stream: %s; retrying", exc)
            if self._closing:
                return
            await backoff.wait()


@dataclass
class Channel:
    cid: str
    first_at: float
    speaker: str | None = None
    samples: int = 0
    stream: AsrStream | None = None
    pending: list[tuple[float, bytes]] = field(default_factory=list)
    voiced_at: float = 0.0
    contrary: int = 0  # voiced blocks in a row attributed to someone else
    streams_opened: int = 0


class AudioRouter:
    """Receives the page's blocks (`on_block`) and feeds ASR streams, the recording and turns."""

    def __init__(self, settings: StreamSettings | None, mixed: bool, recording: RecordingStream | None,
                 post_turns: Any = None) -> None:
        self.settings = settings
        self.mixed = mixed
        self.recording = recording
        self.post_turns = post_turns
        self.channels: dict[str, Channel] = {}
        self.last_voice_at = 0.0
        self.blocks = 0
        self.speakers = SpeakerTurns()
        self._turns: list[dict[str, Any]] = []  # not delivered yet
        self._turn_task: asyncio.Task[None] | None = None
        if mixed and post_turns is not None:
            self._turn_task = asyncio.create_task(self._flush_turns_forever())

    def on_blocks(self, blocks: list[dict[str, Any]]) -> None:
        """The page sends the blocks of all its channels together, oldest first."""
        for block in blocks:
            try:
                self.on_block(block)
            except Exception:  # one bad block must not drop the others
                log.exception("could not handle an audio block from channel %s", block.get("channel"))

    def on_block(self, block: dict[str, Any]) -> None:
        pcm = base64.b64decode(block["pcm"])  # float32 little-endian samples, as the ASR takes them
        cid = block["channel"]
        self.blocks += 1
        if self.mixed:  # turns attribute a mixed stream; per-person channels are named by `speaking`
            self._track_turns(block)
        if cid == "mix":
            if self.recording is not None:
                self.recording.push(pcm)
            return
        channel = self.channels.get(cid)
        if channel is None:
            first = float(block["firstAt"]) / 1000
            channel = self.channels[cid] = Channel(cid, first)
            log.info("new audio channel %s", cid)
        started_at = channel.first_at + channel.samples / SAMPLE_RATE
        channel.samples += len(pcm) // 4
        voiced = float(block.get("rms", 0)) > VOICE_RMS
        now = time.time()
        if voiced:
            self.last_voice_at = now
            channel.voiced_at = now
        if self.settings is None:
            return
        if self.mixed:
            if channel.stream is None:
                channel.stream = self._open(channel, None)
            channel.stream.push(started_at, pcm)
            return
        self._attribute(channel, voiced, list(block.get("speaking") or []))
        if channel.stream is None:
            channel.pending.append((started_at, pcm))
            while channel.pending and channel.pending[-1][0] - channel.pending[0][0] > 30:
                channel.pending.pop(0)
            if channel.speaker is not None:
                channel.stream = self._open(channel, channel.speaker)
                for item in channel.pending:
                    channel.stream.push(*item)
                channel.pending.clear()
        else:
            channel.stream.push(started_at, pcm)

    def _track_turns(self, block: dict[str, Any]) -> None:
        for event in block.get("events") or []:
            self.speakers.outline(event["name"], bool(event["on"]), float(event["t"]) / 1000)
        csrc = block.get("csrc")
        if csrc:
            self.speakers.heard([(int(c), float(t) / 1000) for c, t in csrc["heard"]], float(csrc["polled"]) / 1000)

    def _attribute(self, channel: Channel, voiced: bool, speaking: list[str]) -> None:
        """A channel's speaker: the one tile speaking while the channel carries speech."""
        if not voiced or not speaking:
            return
        busy = {c.speaker for c in self.channels.values() if c is not channel and c.speaker
                and time.time() - c.voiced_at < 1.0}
        candidates = [n for n in speaking if n not in busy] or speaking
        if channel.speaker is None:
            if len(candidates) == 1:
                channel.speaker = candidates[0]
                log.info("channel %s is %s", channel.cid, channel.speaker)
            return
        if channel.speaker in speaking:
            channel.contrary = 0
            return
        channel.contrary += 1
        if channel.contrary >= 3 and len(candidates) == 1:  # Meet moved another speaker here
            log.info("channel %s is now %s (was %s)", channel.cid, candidates[0], channel.speaker)
            old = channel.stream
            channel.speaker, channel.contrary, channel.stream = candidates[0], 0, None
            if old is not None:
                asyncio.create_task(old.close())

    def _open(self, channel: Channel, speaker: str | None) -> AsrStream:
        assert self.settings is not None
        channel.streams_opened += 1
        uid = f"bot-{self.settings.meeting_id}-{channel.cid}-{channel.streams_opened}-{int(time.time())}"
        return AsrStream(self.settings, uid, speaker)

    def reconfigure(self, language: str | None, task: str) -> None:
        if self.settings is None:
            return
        self.settings = StreamSettings(self.settings.url, self.settings.token, self.settings.meeting_id,
                                       language, task)
        for channel in self.channels.values():
            if channel.stream is not None:
                channel.stream.reconfigure(language, task)

    def remote_audio_recently(self, within_s: float) -> bool:
        return time.time() - self.last_voice_at < within_s

    async def _flush_turns_forever(self) -> None:
        while True:
            await asyncio.sleep(TURN_FLUSH_S)
            await self.flush_turns()

    async def flush_turns(self, final: bool = False) -> None:
        self._turns.extend(self.speakers.take(time.time(), final))
        if not self._turns or self.post_turns is None:
            return
        turns, self._turns = self._turns, []
        try:
            await self.post_turns(turns)
        except Exception as exc:  # noqa: BLE001 (kept for the next flush)
            log.warning("speaker turns not delivered yet: %s", exc)
            self._turns = turns + self._turns

    async def close(self) -> None:
        if self._turn_task is not None:
            self._turn_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._turn_task
        await self.flush_turns(final=True)
        for channel in self.channels.values():
            if channel.stream is not None:
                await channel.stream.close()
        if self.recording is not None:
            await self.recording.close()
