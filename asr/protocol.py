"""The WhisperLive wire protocol: its constants, the messages both sides build, and their parsers.

One module for everyone who speaks it: the ASR server (asr.server), the ASR client (asr.client),
the meeting bot (bot.asr_stream) and the tests. It imports nothing heavy (no faster-whisper, no numpy),
so the bot can use it; checking a config frame against what the loaded model can do is the
server's business (asr.config_frame).

A connection: the client sends a JSON config frame (`config_frame`), the server answers
SERVER_READY, WAIT (full: try again in n minutes) or ERROR; then the client sends float32 LE
PCM frames and finally END_OF_AUDIO, the server sends `segments` (and `language` when it
detected one) and, once every segment of the audio is in, DISCONNECT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

END_OF_AUDIO = b"END_OF_AUDIO"
BACKEND = "faster_whisper"
TASKS = ("transcribe", "translate")
SAMPLE_RATE = 16000  # the PCM a client sends: 16 kHz mono float32 little-endian

# The server's answers: `message` carries SERVER_READY and DISCONNECT, `status` WAIT and ERROR.
SERVER_READY = "SERVER_READY"
DISCONNECT = "DISCONNECT"
WAIT = "WAIT"
ERROR = "ERROR"

# The config frame's keys with a meaning of their own; any other key is kept as `extra`
# (a bot sends `speaker` and `audio_started_at`).
CONFIG_KEYS = frozenset({"uid", "language", "task", "model", "use_vad", "initial_prompt", "hotwords",
                         "send_last_n_segments", "token", "meeting_id"})
DEFAULT_SEND_LAST_N_SEGMENTS = 10


@dataclass(frozen=True)
class StreamConfig:
    """A validated config frame (asr.config_frame.parse_config builds it)."""

    uid: str
    language: str | None
    task: str
    model: str | None
    use_vad: bool
    initial_prompt: str | None
    hotwords: str | None
    send_last_n_segments: int
    token: str | None
    meeting_id: str | None
    extra: dict[str, Any]

    @property
    def context(self) -> str | None:
        """Text given to Whisper as previous context: initial prompt then hotwords."""
        parts = [p for p in (self.initial_prompt, self.hotwords) if p and p.strip()]
        return " ".join(parts) if parts else None


def config_frame(uid: str, *, language: str | None, task: str, use_vad: bool = True,
                 token: str | None = None, meeting_id: str | None = None, **extra: Any) -> str:
    """The client's first frame. `extra` keys go beside the known ones (e.g. a bot's speaker)."""
    frame = {"uid": uid, "language": language, "task": task, "use_vad": use_vad,
             "token": token, "meeting_id": meeting_id, **extra}
    return json.dumps(frame)


def ready(uid: str) -> str:
    return json.dumps({"uid": uid, "message": SERVER_READY, "backend": BACKEND})


def wait(uid: str, minutes: float) -> str:
    return json.dumps({"uid": uid, "status": WAIT, "message": round(minutes, 2)})


def error(uid: str | None, message: str) -> str:
    return json.dumps({"uid": uid, "status": ERROR, "message": message})


def language(uid: str, code: str, probability: float) -> str:
    return json.dumps({"uid": uid, "language": code, "language_prob": round(probability, 4)})


def disconnect(uid: str) -> str:
    return json.dumps({"uid": uid, "message": DISCONNECT})


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the stream
    end: float
    text: str
    completed: bool

    def wire(self) -> dict[str, Any]:
        return {"start": f"{self.start:.3f}", "end": f"{self.end:.3f}", "text": self.text, "completed": self.completed}

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Segment:
        return cls(float(item["start"]), float(item["end"]), str(item.get("text", "")), bool(item.get("completed")))


def segments(uid: str, items: list[Segment]) -> str:
    return json.dumps({"uid": uid, "segments": [s.wire() for s in items]})


# Reading the server's messages (a client's side), each a decoded JSON object.

def is_ready(message: dict[str, Any]) -> bool:
    return message.get("message") == SERVER_READY


def is_disconnect(message: dict[str, Any]) -> bool:
    return message.get("message") == DISCONNECT


def is_wait(message: dict[str, Any]) -> bool:
    return message.get("status") == WAIT


def is_error(message: dict[str, Any]) -> bool:
    return message.get("status") == ERROR


def segments_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The wire segments a message carries (none for other messages)."""
    return list(message.get("segments") or [])
