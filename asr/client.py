"""A small WhisperLive-protocol client: streams PCM and records what comes back, with timing.

Used by the tests and the benchmarks. The meeting bot has its own stream (bot.asr_stream: it keeps and
resends uncovered audio across reconnects); both build and read the messages with asr.protocol.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from asr import protocol
from asr.protocol import SAMPLE_RATE


@dataclass
class Received:
    at: float  # time.monotonic() on receipt
    message: dict[str, Any]


@dataclass
class StreamRun:
    """Everything observed while streaming one clip."""

    handshake: dict[str, Any]
    received: list[Received] = field(default_factory=list)
    sent_at: list[tuple[int, float]] = field(default_factory=list)  # (samples sent, monotonic)

    def sent_time(self, seconds: float) -> float:
        """When the audio up to `seconds` had been sent."""
        target = int(seconds * SAMPLE_RATE)
        for samples, when in self.sent_at:
            if samples >= target:
                return when
        return self.sent_at[-1][1]

    def segment_messages(self) -> list[Received]:
        return [r for r in self.received if "segments" in r.message]

    def completed(self) -> list[dict[str, Any]]:
        """Completed segments, each once, in order (keyed by start time)."""
        seen: dict[str, dict[str, Any]] = {}
        for r in self.segment_messages():
            for segment in r.message["segments"]:
                if segment["completed"]:
                    seen.setdefault(segment["start"], segment)
        return sorted(seen.values(), key=lambda s: float(s["start"]))

    def text(self) -> str:
        return " ".join(s["text"].strip() for s in self.completed())

    def finished(self) -> bool:
        """The server said DISCONNECT after END_OF_AUDIO: every segment of the audio is in."""
        return any(protocol.is_disconnect(r.message) for r in self.received)

    def error(self) -> str | None:
        """The message of an ERROR the server sent after accepting the stream, if any."""
        return next((str(r.message.get("message")) for r in self.received if protocol.is_error(r.message)), None)

    def language(self) -> str | None:
        """The language the server detected (it says so only when the config named none)."""
        return next((str(r.message["language"]) for r in self.received if "language" in r.message), None)


async def open_stream(url: str, config: dict[str, Any]) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect and send the config frame; returns the connection and the server's answer."""
    websocket = await connect(url, max_size=2**22)
    await websocket.send(json.dumps(config))
    return websocket, json.loads(await websocket.recv())


async def stream_clip(
    url: str,
    audio: np.ndarray,
    config: dict[str, Any],
    pace: float = 1.0,
    chunk_s: float = 0.1,
    end_of_audio: bool = True,
) -> StreamRun:
    """Send `audio` in chunks at `pace` x real time (0 = as fast as possible), then END_OF_AUDIO,
    and collect messages until DISCONNECT or the server closes."""
    websocket, handshake = await open_stream(url, config)
    run = StreamRun(handshake)
    if not protocol.is_ready(handshake):
        await websocket.close()
        return run
    receiver = asyncio.create_task(_receive(websocket, run))
    chunk = int(chunk_s * SAMPLE_RATE)
    start = time.monotonic()
    try:
        for offset in range(0, len(audio), chunk):
            piece = audio[offset : offset + chunk]
            if pace > 0:
                await asyncio.sleep(max(0.0, start + offset / SAMPLE_RATE / pace - time.monotonic()))
            await websocket.send(piece.astype("<f4").tobytes())
            run.sent_at.append((offset + len(piece), time.monotonic()))
        if end_of_audio:
            await websocket.send(protocol.END_OF_AUDIO)
        await receiver
    finally:
        receiver.cancel()
        await websocket.close()
    return run


async def _receive(websocket: ClientConnection, run: StreamRun) -> None:
    try:
        async for raw in websocket:
            message = json.loads(raw)
            run.received.append(Received(time.monotonic(), message))
            if protocol.is_disconnect(message):
                return
    except ConnectionClosed:
        return
