"""Per-connection state: received audio, VAD/endpointing, and the segments shown to the client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from asr.protocol import Segment, StreamConfig
from asr.sink import StreamInfo
from asr.vad import (
    FRAME,
    SAMPLE_RATE,
    EndpointConfig,
    Endpointer,
    SileroStream,
    Utterance,
    loudness_as_speech,
)

MIN_PARTIAL_SAMPLES = int(0.8 * SAMPLE_RATE)
# The completion guard (Stream.doubtful): a completed pass scoring below this average token
# log-probability is not sure of its text (normal passes of tiny.en score -0.2 to -0.6) ...
CONFIDENT_LOGPROB = -0.6
# ... and one that keeps fewer than this share of the words of the partial it replaces, losing
# at least GUARD_MIN_LOST words, has likely stopped early (tiny.en emitting "Fine." of "Fine.
# Then we can move the review ...").
GUARD_KEPT_SHARE = 0.6
GUARD_MIN_LOST = 3


@dataclass(frozen=True)
class PartialWindow:
    """A partial pass encodes at most `length_s` of the ongoing utterance (its newest audio). When
    the window grows past it, it is cut at a quiet frame between `cut_from_s` and `cut_to_s`
    before its end: the older part is transcribed once more on its own ("frozen": its text is kept
    as the start of every later partial of the utterance) and the window restarts at the cut.
    Shorter windows cost less encoder time and more wrong words (docs/asr.md)."""

    length_s: float = 4.0
    cut_from_s: float = 2.5
    cut_to_s: float = 1.0


@dataclass(frozen=True)
class Job:
    """A window to transcribe: `final` jobs complete a segment, others refresh the partial."""

    stream: "Stream"
    start: int
    end: int
    final: bool
    speech_end: int
    window_start: int | None = None  # partials: where the encoded window starts (default start)
    freeze_end: int | None = None  # partials: [window_start, freeze_end) is frozen by this job

    @property
    def audio_start(self) -> int:
        return self.start if self.window_start is None else self.window_start

    @property
    def samples(self) -> int:
        """Audio the job's passes encode."""
        return self.end - self.audio_start

    def audio(self) -> np.ndarray:
        """The window of the partial (or final) pass; after a freeze cut, the part after it."""
        return self.stream.window(self.freeze_end or self.audio_start, self.end)

    def frozen_audio(self) -> np.ndarray:
        assert self.freeze_end is not None
        return self.stream.window(self.audio_start, self.freeze_end)


@dataclass
class Update:
    """What one engine step changed for a stream, in wire segments."""

    changed: list[Segment] = field(default_factory=list)
    visible: list[Segment] = field(default_factory=list)  # what the client is shown after it
    refresh: bool = False  # the client's view changed (even if no segment did: a partial vanished)
    language: tuple[str, float] | None = None


class Stream:
    """Audio arrives on the event loop, where VAD and endpointing run at once (cheap), so an
    utterance's end is known as soon as its audio is in; the engine thread takes the ended
    utterances and the partial windows. The lock guards what both sides touch."""

    def __init__(
        self, config: StreamConfig, info: StreamInfo, endpoint: EndpointConfig, window: PartialWindow | None = None
    ) -> None:
        self.config, self.info = config, info
        self.partial_window = window or PartialWindow()
        # `use_vad: false`: nothing is gated as silence; utterances end only at the maximum
        # length (cut at a quiet frame) or END_OF_AUDIO, as in a WhisperLive client's no-VAD mode.
        self._speech_probabilities: Callable[[np.ndarray], np.ndarray] = (
            SileroStream() if config.use_vad else loudness_as_speech
        )
        self.language = config.language  # set once detected
        self._lock = threading.Lock()
        self._received = 0  # samples received (absolute)
        self._arrivals: deque[tuple[int, float]] = deque()  # (end sample, wall time received)
        self._buffer = np.zeros(0, np.float32)
        self._base = 0  # absolute index of _buffer[0]
        self._unvoiced = np.zeros(0, np.float32)  # tail shorter than one VAD frame
        self.endpointer = Endpointer(endpoint)
        self._finished: list[Utterance] = []  # ended utterances not yet transcribed
        self.partial_end = 0  # window end of the last partial pass
        self.partial_at = 0.0  # monotonic time of the last partial pass (for fair scheduling)
        self._partial_start = -1  # utterance the partial texts below belong to
        self._partial_texts: list[str] = []  # the last two partial outputs of the current window
        self._anchor = 0  # start of the current partial window (absolute sample)
        self._frozen = ""  # text of the ongoing utterance before the anchor
        self.completed: list[Segment] = []
        self.partial: Segment | None = None
        self.ended = False  # END_OF_AUDIO received (the tail is then in _finished)
        self.end_sent = False  # the sender was told that everything is out
        self.closed = False  # the connection is gone: drop results
        self.outbox: asyncio.Queue[Update | None] = asyncio.Queue()

    # -- event loop side -------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> None:
        audio = np.concatenate([self._unvoiced, samples])
        whole = len(audio) // FRAME * FRAME
        frames, self._unvoiced = audio[:whole], audio[whole:]
        probabilities = self._speech_probabilities(frames) if whole else np.zeros(0, np.float32)
        with self._lock:
            self._received += len(samples)
            self._arrivals.append((self._received, time.monotonic()))
            if whole:
                self._buffer = np.concatenate([self._buffer, frames])
                self._finished += self.endpointer.feed(probabilities)

    def end(self) -> None:
        """END_OF_AUDIO: the last partial frame counts, and the ongoing utterance ends."""
        if len(self._unvoiced):
            self.feed(np.zeros(FRAME - len(self._unvoiced), np.float32))
        with self._lock:
            self._finished += self.endpointer.flush()
            self.ended = True

    def has_finals(self) -> bool:
        return bool(self._finished)

    # -- engine thread side ----------------------------------------------------------------
    def arrival_time(self, sample: int) -> float:
        """Wall time at which audio up to `sample` had been received."""
        with self._lock:
            for end, when in self._arrivals:
                if end >= sample:
                    return when
            return self._arrivals[-1][1] if self._arrivals else time.monotonic()

    def waiting_since(self) -> float | None:
        """When the oldest ended-but-untranscribed utterance had fully arrived."""
        with self._lock:
            first = self._finished[0].end if self._finished else None
        return None if first is None else self.arrival_time(first)

    def take_finals(self) -> list[Utterance]:
        with self._lock:
            finished, self._finished = self._finished, []
        return finished

    def window(self, start: int, end: int) -> np.ndarray:
        with self._lock:
            return self._buffer[max(0, start - self._base) : max(0, end - self._base)].copy()

    def trim(self) -> None:
        """Forget audio no future window can need (memory stays bounded per stream)."""
        with self._lock:
            ongoing = self.endpointer.start
            keep_from = min(
                [u.start for u in self._finished] + [self.endpointer.position if ongoing is None else ongoing]
            )
            keep_from -= int(self.endpointer.config.pad_s * SAMPLE_RATE)
            cut = max(0, keep_from - self._base)
            if cut:
                self._buffer, self._base = self._buffer[cut:], self._base + cut
            while len(self._arrivals) > 1 and self._arrivals[1][0] <= self._base:
                self._arrivals.popleft()

    def finals(self, finished: list[Utterance]) -> list[Job]:
        return [Job(self, u.start, u.end, True, u.speech_end) for u in finished]

    def partial_candidate(self, partial_step: int) -> Job | None:
        """A partial pass over the ongoing utterance, if enough new speech came in."""
        with self._lock:
            endpointer = self.endpointer
            start, speech_end, position = endpointer.start, endpointer.last_speech_end, endpointer.position
        # New *speech* triggers a pass: trailing silence before an endpoint adds no words.
        if start is None or self.ended or speech_end - max(self.partial_end, start) < partial_step:
            return None
        if speech_end - start < MIN_PARTIAL_SAMPLES:
            return None  # Whisper guesses wildly on a fraction of a word
        anchor = self._anchor if self._partial_start == start else start
        freeze = None
        window = self.partial_window
        if position - anchor > window.length_s * SAMPLE_RATE:
            cut_from, cut_to = int(window.cut_from_s * SAMPLE_RATE), int(window.cut_to_s * SAMPLE_RATE)
            freeze = self._quietest(max(anchor + cut_to, position - cut_from), position - cut_to)
        return Job(self, start, position, False, position, anchor, freeze)

    def _quietest(self, lo: int, hi: int) -> int:
        """The middle of the quietest 32 ms frame in [lo, hi) (likely a gap between words)."""
        audio = self.window(lo, hi)
        frames = len(audio) // FRAME
        if frames < 2:
            return lo
        energy = np.square(audio[: frames * FRAME].reshape(frames, FRAME)).mean(axis=1)
        return lo + int(np.argmin(energy)) * FRAME + FRAME // 2

    def partial_prefix(self, job: Job) -> str | None:
        """Words the last two partial passes of this utterance agreed on (but the last one):
        forced as the start of the next pass, so partials do not flicker and the decoder only
        generates what is new. Completed segments are always decoded afresh."""
        if len(self._partial_texts) < 2 or self._partial_start != job.start or job.freeze_end is not None:
            return None
        agreed: list[str] = []
        for a, b in zip(self._partial_texts[-2].split(), self._partial_texts[-1].split(), strict=False):
            if a != b:
                break
            agreed.append(a)
        return " ".join(agreed[:-1]) or None

    def doubtful(self, job: Job, text: str, avg_logprob: float) -> bool:
        """A completion that keeps far fewer words than the partial shown for the same utterance,
        from a pass that is not confident: likely a decode that stopped early, not the words."""
        shown = self.partial
        if not job.final or shown is None or shown.start != job.start / SAMPLE_RATE or avg_logprob >= CONFIDENT_LOGPROB:
            return False
        seen, kept = len(shown.text.split()), len(text.split())
        return seen - kept >= GUARD_MIN_LOST and kept < GUARD_KEPT_SHARE * seen

    def apply(self, job: Job, text: str, frozen: str | None = None, avg_logprob: float = 0.0) -> list[Segment]:
        """Record a pass result (`frozen`: text of a freeze cut's older part; `avg_logprob`: the
        pass's confidence, for the completion guard); returns the segments that changed."""
        start = job.start / SAMPLE_RATE
        if job.final:
            if self.partial is not None and self.doubtful(job, text, avg_logprob):
                # The engine has tried a second decode (Engine._guard). The words the partial
                # showed are better supported than a short, unsure completion that would drop
                # them for good once the segment is completed.
                text = self.partial.text
            self.partial = None
            if not text:
                return []
            segment = Segment(start, job.speech_end / SAMPLE_RATE, text, True)
            self.completed.append(segment)
            del self.completed[: -max(self.config.send_last_n_segments, 1)]
            return [segment]
        if self._partial_start != job.start:
            self._partial_start, self._partial_texts, self._anchor, self._frozen = job.start, [], job.start, ""
        if job.freeze_end is not None:
            # Whisper ends a chunk cut mid-sentence with a full stop: drop it (the completed
            # segment, decoded afresh, has the real punctuation).
            self._frozen = f"{self._frozen} {(frozen or '').rstrip('.')}".strip()
            self._anchor, self._partial_texts = job.freeze_end, []
        self._partial_texts = [*self._partial_texts[-1:], text]
        text = f"{self._frozen} {text}".strip()
        if not text or (self.partial and self.partial.text == text and self.partial.start == start):
            return []
        self.partial = Segment(start, job.end / SAMPLE_RATE, text, False)
        return [self.partial]

    def visible(self) -> list[Segment]:
        """The WhisperLive view: the last completed segments, then the partial."""
        shown = self.completed[-self.config.send_last_n_segments :]
        return shown + ([self.partial] if self.partial else [])
