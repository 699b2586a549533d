"""Streaming voice activity detection: Silero VAD (the onnx shipped inside faster-whisper, usable
offline) run incrementally per stream, and an endpointer that cuts speech into utterances."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import numpy as np
import onnxruntime
from faster_whisper.utils import get_assets_path

SAMPLE_RATE = 16000
FRAME = 512  # samples per Silero frame (32 ms)
_CONTEXT = 64  # samples of the previous frame Silero sees before each frame


@functools.lru_cache(maxsize=1)
def _session() -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=options)


class SileroStream:
    """Speech probability per 32 ms frame, carrying Silero's recurrent state between calls."""

    def __init__(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """`frames`: whole frames of samples (length a multiple of FRAME)."""
        rows = frames.reshape(-1, FRAME)
        contexts = np.vstack([self._context[None, :], rows[:-1, -_CONTEXT:]])
        self._context = rows[-1, -_CONTEXT:].copy()
        # Digital silence cannot be speech: skip the model and keep its state (silence is free).
        if not np.any(np.abs(rows) > 1e-4):
            return np.zeros(len(rows), np.float32)
        batch = np.ascontiguousarray(np.hstack([contexts, rows]), dtype=np.float32)
        probs, self._h, self._c = _session().run(None, {"input": batch, "h": self._h, "c": self._c})
        return np.asarray(probs, np.float32).reshape(-1)


def loudness_as_speech(frames: np.ndarray) -> np.ndarray:
    """Per-frame "speech probabilities" for a stream that turned VAD off (`use_vad: false`):
    every frame counts as speech (all at or above the onset), and quieter frames score lower, so
    an over-long utterance is still cut at its quietest frame rather than mid-word."""
    rms = np.sqrt(np.square(frames.reshape(-1, FRAME)).mean(axis=1))
    speech: np.ndarray = (0.5 + 0.49 * np.minimum(1.0, rms / 0.1)).astype(np.float32)  # numpy's stubs say Any
    return speech


@dataclass(frozen=True)
class EndpointConfig:
    onset: float = 0.5  # probability that starts speech
    offset: float = 0.35  # probability below which a frame counts as silence
    min_silence_s: float = 0.45  # silence that ends an utterance
    max_utterance_s: float = 12.0  # longer speech is cut at its quietest recent frame
    min_speech_s: float = 0.15  # shorter blips are ignored
    pad_s: float = 0.2  # audio kept before speech onset


@dataclass
class Utterance:
    """A finished utterance: absolute sample range, `speech_end` = end of the last speech frame."""

    start: int
    end: int
    speech_end: int


@dataclass
class Endpointer:
    """Turns frame probabilities into utterances. Positions are absolute sample indexes."""

    config: EndpointConfig = field(default_factory=EndpointConfig)
    position: int = 0  # samples consumed
    start: int | None = None  # start of the ongoing utterance
    last_speech_end: int = 0
    speech_frames: int = 0
    _probs: list[float] = field(default_factory=list)  # of the ongoing utterance, for cutting

    def feed(self, probs: np.ndarray) -> list[Utterance]:
        done: list[Utterance] = []
        cfg = self.config
        for prob in probs.tolist():
            frame_start = self.position
            self.position += FRAME
            if self.start is None:
                if prob >= cfg.onset:
                    self.start = max(0, frame_start - int(cfg.pad_s * SAMPLE_RATE))
                    self.last_speech_end, self.speech_frames, self._probs = self.position, 1, [prob]
                continue
            self._probs.append(prob)
            if prob >= cfg.offset:
                self.last_speech_end = self.position
                self.speech_frames += 1
            elif self.position - self.last_speech_end >= cfg.min_silence_s * SAMPLE_RATE:
                done += self._finish(self.last_speech_end)
                continue
            if self.position - self.start >= cfg.max_utterance_s * SAMPLE_RATE:
                done += self._cut()
        return done

    def flush(self) -> list[Utterance]:
        """End of audio: the ongoing utterance ends where the audio ends."""
        return self._finish(self.last_speech_end) if self.start is not None else []

    def _finish(self, speech_end: int) -> list[Utterance]:
        start, frames = self.start, self.speech_frames
        self.start, self.speech_frames, self._probs = None, 0, []
        assert start is not None
        if frames * FRAME < self.config.min_speech_s * SAMPLE_RATE:
            return []
        end = min(self.position, speech_end + int(self.config.pad_s * SAMPLE_RATE))
        return [Utterance(start, end, speech_end)]

    def _cut(self) -> list[Utterance]:
        """Cut an over-long utterance at the quietest frame of its last 3 s (likely a word gap)."""
        assert self.start is not None
        recent = self._probs[-int(3 * SAMPLE_RATE / FRAME):]
        quietest = int(np.argmin(recent))
        cut = self.position - (len(recent) - quietest) * FRAME + FRAME
        utterance = Utterance(self.start, cut, cut)
        self._probs = self._probs[len(self._probs) - len(recent) + quietest + 1:]
        self.start, self.speech_frames = cut, max(1, len(self._probs))
        return [utterance]
