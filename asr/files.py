"""Whole-file transcription (the OpenAI-compatible endpoint): decode any audio PyAV reads,
transcribe offline with faster-whisper (VAD on, beam search), render in OpenAI's formats."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faster_whisper import decode_audio

from asr.filters import clean
from asr.models import LoadedModel, load_model

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


class TranscriptionError(ValueError):
    """Bad input (unknown format, unreadable audio, unsupported language or task)."""


@dataclass(frozen=True)
class FileSegment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    tokens: list[int]
    temperature: float


def transcribe_file(
    source: str | Path | bytes,
    language: str | None = None,
    response_format: str = "json",
    *,
    model: LoadedModel | None = None,
    task: str = "transcribe",
    prompt: str | None = None,
) -> str | dict[str, Any]:
    """Transcribe a file path or the bytes of an audio file. Text formats give a str, JSON
    formats a dict."""
    if response_format not in FORMATS:
        raise TranscriptionError(f"response_format must be one of {', '.join(FORMATS)}, not {response_format!r}")
    model = model or load_model()
    if not model.multilingual and (task != "transcribe" or (language or "en") != "en"):
        raise TranscriptionError("the loaded model is English-only: only English transcription is available")
    try:
        audio = decode_audio(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except Exception as error:  # PyAV raises many types for undecodable input
        raise TranscriptionError(f"cannot decode the audio file: {error}") from None
    raw, info = model.whisper.transcribe(
        audio, language=language, task=task, initial_prompt=prompt, vad_filter=True
    )
    segments = []
    for s in raw:
        text = clean(s.text, s.avg_logprob, s.no_speech_prob)
        if text:
            segments.append(
                FileSegment(len(segments), s.start, s.end, text, s.avg_logprob, s.no_speech_prob,
                            s.compression_ratio, list(s.tokens), s.temperature or 0.0)
            )
    return render(segments, response_format, info.language, info.duration, task)


def render(segments: list[FileSegment], response_format: str, language: str, duration: float, task: str) -> str | dict[str, Any]:
    text = " ".join(s.text for s in segments)
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
                {
                    "id": s.id, "seek": 0, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
                    "tokens": s.tokens, "temperature": s.temperature, "avg_logprob": s.avg_logprob,
                    "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob,
                }
                for s in segments
            ],
        }
    if response_format == "srt":
        return "".join(
            f"{s.id + 1}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n\n" for s in segments
        )
    return "WEBVTT\n\n" + "".join(f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n\n" for s in segments)


def _clock(seconds: float, decimal: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"
