"""The page's audio blocks to the ASR streams, the recording and the speaker turns.

The page kit taps every remote MediaStream (one channel each) and hands the bot 400 ms blocks
of 16 kHz mono float32 with the names whose speaking indicators are on. The router gives each
channel a stream to the ASR server (bot.asr_stream), named after its speaker (Meet: one
participant per channel, recognised from the indicators while the channel carries speech); a
mixed channel (Teams) has no speaker, and speaker turns are reported to
`/internal/bot/speakers` instead: timed by the stream's RTP contributing sources where the page
has them, named by the indicators (bot.speakers). With recording enabled, the mix of all
channels goes to bot.recording_stream.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from asr.protocol import SAMPLE_RATE
from bot.asr_stream import BYTES_PER_SAMPLE, AsrStream, StreamSettings
from bot.recording_stream import RecordingStream
from bot.speakers import SpeakerTurns

log = logging.getLogger("vomeet.bot.audio")
VOICE_RMS = 0.01  # a block louder than this carries speech
TURN_FLUSH_S = 0.5
KEEP_UNNAMED_S = 30.0  # a channel's audio kept until its speaker is known
SPEAKER_BUSY_S = 1.0  # a speaker whose channel carried speech this recently is not another's
RENAME_AFTER_BLOCKS = 3  # voiced blocks in a row attributed to someone else before a rename
PostTurns = Callable[[list[dict[str, Any]]], Awaitable[None]]


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
                 post_turns: PostTurns | None = None) -> None:
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
        self._closing: set[asyncio.Task[None]] = set()  # streams of renamed channels, closing
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
        channel.samples += len(pcm) // BYTES_PER_SAMPLE
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
            while channel.pending and channel.pending[-1][0] - channel.pending[0][0] > KEEP_UNNAMED_S:
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
                and time.time() - c.voiced_at < SPEAKER_BUSY_S}
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
        if channel.contrary >= RENAME_AFTER_BLOCKS and len(candidates) == 1:  # Meet moved another speaker here
            log.info("channel %s is now %s (was %s)", channel.cid, candidates[0], channel.speaker)
            old = channel.stream
            channel.speaker, channel.contrary, channel.stream = candidates[0], 0, None
            if old is not None:  # kept until closed, or the loop could drop the task mid-close
                closing = asyncio.create_task(old.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)

    def _open(self, channel: Channel, speaker: str | None) -> AsrStream:
        assert self.settings is not None
        channel.streams_opened += 1
        uid = f"bot-{self.settings.meeting_id}-{channel.cid}-{channel.streams_opened}-{int(time.time())}"
        return AsrStream(self.settings, uid, speaker)

    def reconfigure(self, language: str | None, task: str) -> None:
        if self.settings is None:
            return
        self.settings = replace(self.settings, language=language, task=task)
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
