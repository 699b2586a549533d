"""The server's check of a client's config frame against what the loaded model can do.

Apart from asr.protocol because it needs faster-whisper's language table, which the protocol's
other users (the bot, the client) must not import.
"""

from __future__ import annotations

import json
from typing import Any

from faster_whisper.tokenizer import _LANGUAGE_CODES

from asr.protocol import CONFIG_KEYS, DEFAULT_SEND_LAST_N_SEGMENTS, TASKS, StreamConfig


class ConfigError(ValueError):
    """The config frame is unusable; the message goes back to the client in an ERROR frame."""


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
    last_n = frame.get("send_last_n_segments", DEFAULT_SEND_LAST_N_SEGMENTS)
    if not isinstance(last_n, int) or isinstance(last_n, bool) or last_n < 1:
        raise ConfigError("'send_last_n_segments' must be a positive integer")
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
        extra={k: v for k, v in frame.items() if k not in CONFIG_KEYS},
    )
