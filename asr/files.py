"""Whole-file transcription in this process: decode any audio PyAV reads, transcribe offline with
faster-whisper (VAD on, beam search), render in OpenAI's formats. (The appliance's OpenAI-compatible
endpoint does not load a model: it has the ASR server transcribe, appliance/file_transcription.py.)"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faster_whisper import decode_audio

from asr import openai_api
from asr.filters import clean
from asr.models import LoadedModel, load_model

FORMATS = openai_api.FORMATS


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
    segments: list[FileSegment] = []
    for s in raw:
        text = clean(s.text, s.avg_logprob, s.no_speech_prob)
        if text:
            segments.append(
                FileSegment(len(segments), s.start, s.end, text, s.avg_logprob, s.no_speech_prob,
                            s.compression_ratio, list(s.tokens), s.temperature or 0.0)
            )
    return render(segments, response_format, info.language, info.duration, task)


def render(
    segments: list[FileSegment], response_format: str, language: str, duration: float, task: str
) -> str | dict[str, Any]:
    return openai_api.render(
        [
            {"start": s.start, "end": s.end, "text": s.text, "tokens": s.tokens, "temperature": s.temperature,
             "avg_logprob": s.avg_logprob, "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
            for s in segments
        ],
        response_format, language, duration, task,
    )
