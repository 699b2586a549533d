"""The WhisperLive wire protocol: the client's config frame and the server's JSON messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from faster_whisper.tokenizer import _LANGUAGE_CODES

END_OF_AUDIO = b"END_OF_AUDIO"
BACKEND = "faster_whisper"
TASKS = ("transcribe", "translate")


class ConfigError(ValueError):
    """The config frame is unusable; the message goes back to the client in an ERROR frame."""


@dataclass(frozen=True)
class StreamConfig:
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


def _optional_str(frame: dict[str, Any], key: str) -> str | None:
    value = frame.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ConfigError(f"'{key}' must be a string")
    return str(value)


def parse_config(raw: str | bytes, multilingual: bool) -> StreamConfig:
    """Validate the first frame of a connection against what the loaded model can do."""
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"first frame must be a JSON config object: {error}") from None
    if not isinstance(frame, dict):
        raise ConfigError("first frame must be a JSON object")
    uid = frame.get("uid")
    if not isinstance(uid, str) or not uid.strip():
        raise ConfigError("'uid' is required and must be a non-empty string")
    language = _optional_str(frame, "language")
    if language is not None:
        language = language.lower()
        if language not in _LANGUAGE_CODES:
            raise ConfigError(f"unknown language {language!r}")
        if not multilingual and language != "en":
            raise ConfigError(f"the loaded model is English-only; language {language!r} is not available")
    task = frame.get("task") or "transcribe"
    if task not in TASKS:
        raise ConfigError(f"'task' must be one of {', '.join(TASKS)}, not {task!r}")
    if task == "translate" and not multilingual:
        raise ConfigError("the loaded model is English-only; it cannot translate")
    last_n = frame.get("send_last_n_segments", 10)
    if not isinstance(last_n, int) or isinstance(last_n, bool) or last_n < 1:
        raise ConfigError("'send_last_n_segments' must be a positive integer")
    known = {"uid", "language", "task", "model", "use_vad", "initial_prompt", "hotwords",
             "send_last_n_segments", "token", "meeting_id"}
    return StreamConfig(
        uid=uid,
        language=language,
        task=task,
        model=_optional_str(frame, "model"),
        use_vad=bool(frame.get("use_vad", True)),
        initial_prompt=_optional_str(frame, "initial_prompt"),
        hotwords=_optional_str(frame, "hotwords"),
        send_last_n_segments=last_n,
        token=_optional_str(frame, "token"),
        meeting_id=_optional_str(frame, "meeting_id"),
        extra={k: v for k, v in frame.items() if k not in known},
    )


def ready(uid: str) -> str:
    return json.dumps({"uid": uid, "message": "SERVER_READY", "backend": BACKEND})


def wait(uid: str, minutes: float) -> str:
    return json.dumps({"uid": uid, "status": "WAIT", "message": round(minutes, 2)})


def error(uid: str | None, message: str) -> str:
    return json.dumps({"uid": uid, "status": "ERROR", "message": message})


def language(uid: str, code: str, probability: float) -> str:
    return json.dumps({"uid": uid, "language": code, "language_prob": round(probability, 4)})


def disconnect(uid: str) -> str:
    return json.dumps({"uid": uid, "message": "DISCONNECT"})


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the stream
    end: float
    text: str
    completed: bool

    def wire(self) -> dict[str, Any]:
        return {"start": f"{self.start:.3f}", "end": f"{self.end:.3f}", "text": self.text, "completed": self.completed}


def segments(uid: str, items: list[Segment]) -> str:
    return json.dumps({"uid": uid, "segments": [s.wire() for s in items]})
