"""Per-connection state: received audio, VAD/endpointing, and the segments shown to the client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from asr.protocol import Segment, StreamConfig
from asr.sink import StreamInfo
from asr.vad import FRAME, SAMPLE_RATE, EndpointConfig, Endpointer, SileroStream, Utterance


MIN_PARTIAL_SAMPLES = int(0.8 * SAMPLE_RATE)


@dataclass(frozen=True)
class Job:
    """A window to transcribe: `final` jobs complete a segment, others refresh the partial."""

    stream: "Stream"
    start: int
    end: int
    final: bool
    speech_end: int

    def audio(self) -> np.ndarray:
        return self.stream.window(self.start, self.end)


@dataclass
class Update:
    """What one engine step changed for a stream, in wire segments."""

    changed: list[Segment] = field(default_factory=list)
    language: tuple[str, float] | None = None


class Stream:
    """Audio is appended from the event loop and consumed by the engine thread (hence the lock)."""

    def __init__(self, config: StreamConfig, info: StreamInfo, endpoint: EndpointConfig) -> None:
        self.config, self.info = config, info
        self.language = config.language  # set once detected
        self._lock = threading.Lock()
        self._pending: list[np.ndarray] = []
        self._received = 0  # samples received (absolute)
        self._arrivals: deque[tuple[int, float]] = deque()  # (end sample, wall time received)
        self._buffer = np.zeros(0, np.float32)
        self._base = 0  # absolute index of _buffer[0]
        self._unvoiced = np.zeros(0, np.float32)  # tail shorter than one VAD frame
        self._vad = SileroStream()
        self.endpointer = Endpointer(endpoint)
        self.partial_end = 0  # window end of the last partial pass
        self.partial_at = 0.0  # monotonic time of the last partial pass (for fair scheduling)
        self._partial_start = -1  # utterance the partial texts below belong to
        self._partial_texts: list[str] = []  # the last two partial outputs
        self.completed: list[Segment] = []
        self.partial: Segment | None = None
        self.ended = False  # END_OF_AUDIO received
        self.flushed = False  # the engine has processed everything after END_OF_AUDIO
        self.closed = False  # the connection is gone: drop results
        self.outbox: asyncio.Queue[Update | None] = asyncio.Queue()
        self.done = asyncio.Event()

    # -- event loop side -------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> None:
        with self._lock:
            self._pending.append(samples)
            self._received += len(samples)
            self._arrivals.append((self._received, time.monotonic()))

    def has_work(self) -> bool:
        return bool(self._pending) or (self.ended and not self.flushed)

    # -- engine thread side ----------------------------------------------------------------
    def arrival_time(self, sample: int) -> float:
        """Wall time at which audio up to `sample` had been received."""
        with self._lock:
            for end, when in self._arrivals:
                if end >= sample:
                    return when
            return self._arrivals[-1][1] if self._arrivals else time.monotonic()

    def oldest_pending_since(self) -> float | None:
        with self._lock:
            if not self._pending:
                return None
            first = self._received - sum(len(p) for p in self._pending)
        return self.arrival_time(first + 1)

    def advance(self) -> list[Utterance]:
        """Take received audio, run VAD on whole frames, return utterances that ended."""
        with self._lock:
            new, self._pending = self._pending, []
        audio = np.concatenate([self._unvoiced, *new]) if new else self._unvoiced
        flush = self.ended and not self._pending
        whole = len(audio) // FRAME * FRAME
        if flush and whole < len(audio):  # the last partial frame counts at end of audio
            audio = np.concatenate([audio, np.zeros(FRAME - len(audio) % FRAME, np.float32)])
            whole = len(audio)
        frames, self._unvoiced = audio[:whole], audio[whole:]
        if len(frames):
            self._buffer = np.concatenate([self._buffer, frames])
        done = self.endpointer.feed(self._vad(frames)) if len(frames) else []
        if flush:
            done += self.endpointer.flush()
            self.flushed = True
        return done

    def window(self, start: int, end: int) -> np.ndarray:
        return self._buffer[max(0, start - self._base) : max(0, end - self._base)]

    def trim(self) -> None:
        """Forget audio no future window can need (memory stays bounded per stream)."""
        keep_from = self.endpointer.start
        if keep_from is None:
            keep_from = self.endpointer.position - int(self.endpointer.config.pad_s * SAMPLE_RATE)
        cut = max(0, keep_from - self._base)
        if cut:
            self._buffer, self._base = self._buffer[cut:], self._base + cut
        with self._lock:
            while len(self._arrivals) > 1 and self._arrivals[1][0] <= self._base:
                self._arrivals.popleft()

    def finals(self, finished: list[Utterance]) -> list[Job]:
        return [Job(self, u.start, u.end, True, u.speech_end) for u in finished]

    def partial_candidate(self, partial_step: int) -> Job | None:
        """A partial pass over the ongoing utterance, if enough new speech came in."""
        ep = self.endpointer
        # New *speech* triggers a pass: trailing silence before an endpoint adds no words.
        if ep.start is None or self.ended or ep.last_speech_end - max(self.partial_end, ep.start) < partial_step:
            return None
        if ep.last_speech_end - ep.start < MIN_PARTIAL_SAMPLES:
            return None  # Whisper guesses wildly on a fraction of a word
        return Job(self, ep.start, ep.position, False, ep.position)

    def partial_prefix(self, job: Job) -> str | None:
        """Words the last two partial passes of this utterance agreed on (but the last one):
        forced as the start of the next pass, so partials do not flicker and the decoder only
        generates what is new. Completed segments are always decoded afresh."""
        if len(self._partial_texts) < 2 or self._partial_start != job.start:
            return None
        agreed: list[str] = []
        for a, b in zip(self._partial_texts[-2].split(), self._partial_texts[-1].split()):
            if a != b:
                break
            agreed.append(a)
        return " ".join(agreed[:-1]) or None

    def apply(self, job: Job, text: str) -> list[Segment]:
        """Record a pass result; returns the segments that changed."""
        start = job.start / SAMPLE_RATE
        if job.final:
            self.partial = None
            if not text:
                return []
            segment = Segment(start, job.speech_end / SAMPLE_RATE, text, True)
            self.completed.append(segment)
            del self.completed[: -max(self.config.send_last_n_segments, 1)]
            return [segment]
        if self._partial_start != job.start:
            self._partial_start, self._partial_texts = job.start, []
        self._partial_texts = [*self._partial_texts[-1:], text]
        if not text or (self.partial and self.partial.text == text and self.partial.start == start):
            return []
        self.partial = Segment(start, job.end / SAMPLE_RATE, text, False)
        return [self.partial]

    def visible(self) -> list[Segment]:
        """The WhisperLive view: the last completed segments, then the partial."""
        shown = self.completed[-self.config.send_last_n_segments :]
        return shown + ([self.partial] if self.partial else [])
