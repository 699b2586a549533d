"""OpenAI's audio API shapes (`POST /v1/audio/transcriptions` and `/v1/audio/translations`): the
form fields a request may carry, the errors OpenAI answers, and the formats of its answer.

No I/O here: the appliance's route (appliance/api/routes/openai_audio.py) reads the upload and
has the ASR server transcribe it; `asr.files` renders its offline transcripts with `render` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MEDIA_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt", "text": "text/plain"}
OPENAI_MODEL = "whisper-1"  # the name OpenAI's clients send; served by the loaded model
GRANULARITIES = "timestamp_granularities[]"
# The fields OpenAI defines for each endpoint (translations take no language).
FIELDS = {
    "transcribe": ("file", "model", "language", "prompt", "response_format", "temperature", GRANULARITIES, "stream"),
    "translate": ("file", "model", "prompt", "response_format", "temperature"),
}


class OpenAIError(Exception):
    """An answer in OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class AudioRequest:
    """What a valid request asks for (the file travels separately)."""

    task: str  # transcribe or translate
    model: str
    language: str | None
    prompt: str | None
    response_format: str


def parse_request(
    fields: Mapping[str, Sequence[str]], task: str, models: Sequence[str], multilingual: bool
) -> AudioRequest:
    """Validate the form's text fields against what this server and its loaded model can do.
    `models` are the accepted `model` values; a field this server cannot honour is refused,
    never ignored."""
    allowed = FIELDS[task]
    for name in fields:
        if name not in allowed:
            raise OpenAIError(
                400, f"'{name}' is not supported by this server's {task} endpoint; "
                f"it takes {', '.join(allowed)}.", name, "unsupported_parameter",
            )

    def one(name: str) -> str | None:
        values = fields.get(name) or []
        if len(values) > 1:
            raise OpenAIError(400, f"'{name}' was given {len(values)} times; give it once.", name)
        return (values[0].strip() or None) if values else None

    model = one("model") or OPENAI_MODEL
    if model not in models:
        raise OpenAIError(
            400, f"The model '{model}' is not available here; use {' or '.join(models)} "
            "(both name the model the appliance has loaded).", "model", "model_not_found",
        )
    response_format = one("response_format") or "json"
    if response_format not in FORMATS:
        raise OpenAIError(
            400, f"response_format must be one of {', '.join(FORMATS)}, not '{response_format}'.",
            "response_format",
        )
    if (one("stream") or "false").lower() != "false":
        raise OpenAIError(
            400, "'stream' (server-sent events) is not supported by this server; leave it out or false.",
            "stream", "unsupported_value",
        )
    temperature = one("temperature")
    if temperature is not None:
        try:
            value = float(temperature)
        except ValueError:
            raise OpenAIError(400, f"temperature must be a number, not '{temperature}'.", "temperature") from None
        if value != 0:
            raise OpenAIError(
                400, "Only temperature 0 is supported: the server decodes greedily and falls back to "
                "higher temperatures by itself when a pass fails.", "temperature", "unsupported_value",
            )
    for granularity in fields.get(GRANULARITIES) or []:
        if granularity != "segment":
            raise OpenAIError(
                400, f"timestamp_granularities '{granularity}' is not supported; only 'segment' is.",
                GRANULARITIES, "unsupported_value",
            )
        if response_format != "verbose_json":
            raise OpenAIError(400, "timestamp_granularities needs response_format=verbose_json.", GRANULARITIES)
    language = one("language")
    if language is not None:
        language = language.lower()
        if not multilingual and language != "en":
            raise OpenAIError(
                400, f"The loaded model ({models[-1]}) is English-only; language '{language}' is not "
                "available.", "language", "unsupported_language",
            )
    if task == "translate" and not multilingual:
        raise OpenAIError(
            400, f"The loaded model ({models[-1]}) is English-only: it cannot translate. Install a "
            "multilingual Whisper model to use /v1/audio/translations.", None, "translation_unavailable",
        )
    return AudioRequest(task, model, language, one("prompt"), response_format)


def render(
    segments: Sequence[Mapping[str, Any]], response_format: str, language: str, duration: float, task: str
) -> str | dict[str, Any]:
    """The answer in `response_format`. Each segment has `start`, `end` (seconds) and `text`;
    verbose_json adds whatever else a segment carries (decoder statistics, when known)."""
    text = " ".join(s["text"] for s in segments)
    if response_format == "json":
        return {"text": text}
    if response_format == "text":
        return text + "\n"
    if response_format == "verbose_json":
        return {
            "task": task,
            "language": language,
            "duration": round(duration, 3),
            "text": text,
            "segments": [
                {"id": n, "seek": 0, **s, "start": round(s["start"], 3), "end": round(s["end"], 3)}
                for n, s in enumerate(segments)
            ],
        }
    if response_format == "srt":
        return "".join(
            f"{n + 1}\n{_clock(s['start'], ',')} --> {_clock(s['end'], ',')}\n{s['text']}\n\n"
            for n, s in enumerate(segments)
        )
    return "WEBVTT\n\n" + "".join(
        f"{_clock(s['start'], '.')} --> {_clock(s['end'], '.')}\n{s['text']}\n\n" for s in segments
    )


def _clock(seconds: float, decimal: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"
