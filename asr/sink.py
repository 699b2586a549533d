"""Where transcribed segments go besides the client: a hook the appliance plugs its pipeline into
(asr.appliance_sink, wired by `vomeet asr --appliance-url`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from asr.protocol import Segment


@dataclass(frozen=True)
class StreamInfo:
    """Who is streaming: the config identity plus what the bot said about the meeting."""

    uid: str
    meeting_id: str | None
    token: str | None
    language: str | None
    task: str
    connected_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)  # config keys beyond the known ones


class SegmentSink(Protocol):
    async def start(self) -> None:
        """Called once before the server takes connections (a durable sink replays what an
        earlier run still owes)."""

    async def on_segments(self, stream_info: StreamInfo, segments: list[Segment]) -> None:
        """Called with the segments that changed: newly completed ones, then the partial (if any).
        A completed segment is delivered once and never changes afterwards."""

    async def on_stream_closed(self, stream_info: StreamInfo) -> None:
        """Called once the stream's connection is over (the server does not wait for it): deliver
        what the stream still owes, then forget it."""


class NullSink:
    """The default: segments go only to the WebSocket client."""

    async def start(self) -> None:
        return None

    async def on_segments(self, stream_info: StreamInfo, segments: list[Segment]) -> None:
        return None

    async def on_stream_closed(self, stream_info: StreamInfo) -> None:
        return None
