"""The engine: one loaded model serving every stream.

Streams run VAD on arrival. An asyncio task wakes when audio arrives and, whenever one of the
model's workers is free, plans a *step* and runs it in a thread: every window that needs a pass
(utterances that just ended -> completed segments, ongoing utterances -> partial text, within a
per-step audio budget) goes through the model in batched calls. A stream is in at most one running
step, so its segments stay in order; the other worker serves the other streams meanwhile. Results
go back to each stream's outbox. Steps run back to back, so under load each pass covers more new
audio instead of queueing. What completed-segment passes cost is measured and projected for
admission (asr.admission); their lag is the backstop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from asr.admission import Admission, AdmissionSettings, Decision
from asr.decoder import FINAL_TAIL_PAD_S, PARTIAL_TAIL_PAD_S, Decoder, Fallback, Pass, PassResult
from asr.filters import clean
from asr.models import LoadedModel
from asr.protocol import StreamConfig
from asr.sink import NullSink, SegmentSink, StreamInfo
from asr.stream import Job, PartialWindow, Stream, Update
from asr.vad import SAMPLE_RATE, EndpointConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    partial_step_s: float = 0.3  # new speech that triggers a partial pass
    step_audio_s: float = 8.0  # audio per step (s): ended utterances always go, partial windows fill the rest
    partial_yield_s: float = 1.0  # while an ended utterance has waited longer than this, steps take no partials
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    partial_window: PartialWindow = field(default_factory=PartialWindow)
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
    lag_budget_s: float = 2.0  # new streams wait while completed-segment lag exceeds this (backstop)
    lag_window_s: float = 10.0  # how far back lag measurements count
    max_streams: int | None = None  # optional hard cap on top of the projected load
    # Whisper's decoding fallback for completed segments and freeze passes (None: greedy only).
    fallback: Fallback | None = field(default_factory=Fallback)


class Engine:
    def __init__(
        self, model: LoadedModel, settings: EngineSettings | None = None, sink: SegmentSink | None = None
    ) -> None:
        # The model workers take the cores. NumPy's BLAS (the log-Mel matmul) would otherwise
        # keep a thread per core spinning between calls: measured at 16 streams on 2 cores, a
        # third of a core taken from the workers (partial p50 0.90 s with that pool, 0.67 s without).
        threadpool_limits(1, user_api="blas")
        self.model = model
        self.settings = settings or EngineSettings()
        self.sink: SegmentSink = sink or NullSink()
        self.decoder = Decoder(model.whisper, self.settings.fallback)
        self.streams: dict[int, Stream] = {}
        self._lags: deque[tuple[float, float]] = deque()  # (when, lag seconds) of every pass
        self._final_lags: deque[tuple[float, float]] = deque()  # the same for completed segments only
        self.gate = Admission(self.settings.admission, model.workers)
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()  # steps in worker threads
        self._in_flight: set[int] = set()  # ids of the streams with a step running
        self._counting = threading.Lock()  # steps finish in several worker threads
        self.steps = 0
        self.passes = 0
        self.fallbacks = 0  # passes decoded a second time (fallback thresholds or completion guard)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="asr-engine")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, *self._running, return_exceptions=True)
            self._task = None

    # -- admission -----------------------------------------------------------------------------
    def lag_s(self) -> float:
        """Worst completed-segment lag measured recently: time from an utterance's last audio
        arriving to its completed segment, or how long an ended utterance has been waiting for its
        pass right now, if that is worse. Partials may lag more: under load they refresh less."""
        now = time.monotonic()
        return max(self._recent_worst(self._final_lags, now), self._backlog_s(now))

    def _backlog_s(self, now: float) -> float:
        """How long the oldest ended utterance not yet transcribed has been waiting."""
        waiting = [s.waiting_since() for s in self.streams.values()]
        return max((now - since for since in waiting if since is not None), default=0.0)

    def pass_lag_s(self) -> float:
        """Worst lag of any pass recently, partials included (for /stats)."""
        return self._recent_worst(self._lags, time.monotonic())

    def _recent_worst(self, lags: deque[tuple[float, float]], now: float) -> float:
        while lags and lags[0][0] < now - self.settings.lag_window_s:
            lags.popleft()
        return max((lag for _, lag in lags), default=0.0)

    def admission(self) -> Decision:
        """Whether a new stream is admitted now, and if not how long it should wait."""
        return self.gate.decide(time.monotonic(), self.lag_s(), self.settings.lag_budget_s, self.settings.max_streams)

    # -- streams -------------------------------------------------------------------------------
    def open(self, config: StreamConfig) -> Stream:
        info = StreamInfo(
            config.uid, config.meeting_id, config.token, config.language, config.task, extra=dict(config.extra)
        )
        stream = Stream(config, info, self.settings.endpoint, self.settings.partial_window)
        self.streams[id(stream)] = stream
        self.gate.opened(stream, time.monotonic())
        return stream

    def feed(self, stream: Stream, samples: np.ndarray) -> None:
        stream.feed(samples)
        self._wake.set()

    def end(self, stream: Stream) -> None:
        """END_OF_AUDIO: flush the tail; the outbox gets None once its last result is out."""
        stream.end()
        self._wake.set()

    async def close(self, stream: Stream) -> None:
        stream.closed = True
        self.gate.closed(stream, time.monotonic())
        if self.streams.pop(id(stream), None) is not None:
            async with self._changed:
                self._changed.notify_all()

    async def wait_streams(self, count: int) -> None:
        """Until at most `count` streams are open (lets tests see resources freed)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.streams) <= count)

    # -- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        """Plans a step whenever a model worker is free and some stream not already in a running
        step has work; with two workers (one per core on CPU) a step of completed segments and a
        step of partials run side by side, so neither waits for the other."""
        workers = asyncio.Semaphore(max(1, self.model.workers))
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                await workers.acquire()
                free = [s for s in list(self.streams.values()) if id(s) not in self._in_flight and not s.closed]
                jobs = self._plan(free)
                owners = {id(job.stream) for job in jobs}
                self._in_flight |= owners  # before the end markers: taken finals are not out yet
                self._send_end_markers()
                if not jobs:
                    workers.release()
                    break
                step = asyncio.create_task(self._run_step(jobs, owners, workers))
                self._running.add(step)
                step.add_done_callback(self._running.discard)

    async def _run_step(self, jobs: list[Job], owners: set[int], workers: asyncio.Semaphore) -> None:
        began, ended = time.monotonic(), None
        try:
            updates = await asyncio.to_thread(self._step, jobs)
            ended = time.monotonic()
        except Exception:  # one bad step must not kill every stream
            log.exception("ASR engine step failed")
            updates = []
        finally:
            self._in_flight -= owners
            workers.release()
        if ended is not None:
            self._measure(jobs, began, ended)
        for stream, update in updates:
            if not stream.closed:
                stream.outbox.put_nowait(update)
        self._send_end_markers()
        self._wake.set()  # more may have arrived meanwhile, or was left over by the step budget

    def _measure(self, jobs: list[Job], began: float, ended: float) -> None:
        """Feed admission: the step's time goes to its completed-segment passes in proportion to
        the audio they encode (pads included), and their lag is recorded."""
        def encoded_s(job: Job) -> float:
            if job.final:
                return job.samples / SAMPLE_RATE + FINAL_TAIL_PAD_S
            return job.samples / SAMPLE_RATE + PARTIAL_TAIL_PAD_S * (2 if job.freeze_end is not None else 1)

        finals = [job for job in jobs if job.final]
        spoken: dict[Hashable, float] = {}  # per Stream (the gate takes any hashable key)
        for job in finals:
            spoken[job.stream] = spoken.get(job.stream, 0.0) + job.samples / SAMPLE_RATE
            self._final_lags.append((ended, ended - job.stream.arrival_time(job.end)))
        if finals:
            share = sum(encoded_s(job) for job in finals) / sum(encoded_s(job) for job in jobs)
            self.gate.measured(ended, (ended - began) * share, spoken)
        self._recent_worst(self._lags, ended)  # _step appends every pass's lag; keep it bounded

    def _send_end_markers(self) -> None:
        for stream in list(self.streams.values()):
            if stream.ended and not stream.end_sent and not stream.has_finals() and id(stream) not in self._in_flight:
                stream.end_sent = True
                stream.outbox.put_nowait(None)  # end marker: the tail is out

    def _plan(self, streams: list[Stream]) -> list[Job]:
        """Every ended utterance, then partials for the streams that waited longest, up to the
        step's audio budget; the rest go in the next step."""
        partial_step = int(self.settings.partial_step_s * SAMPLE_RATE)
        now = time.monotonic()
        late = self._backlog_s(now) > self.settings.partial_yield_s  # before this step takes its finals
        jobs: list[Job] = []
        candidates: list[Job] = []
        for stream in streams:
            stream.trim()  # no step of its own runs now, so its old audio can go
            jobs += stream.finals(stream.take_finals())
            if (candidate := stream.partial_candidate(partial_step)) is not None:
                candidates.append(candidate)
        # Completed segments come first: a step full of them holds partials back, and while
        # completed segments are late no step takes partials (they refresh less often under load,
        # completed segments keep their pace). Partial windows are short
        # (asr.stream.PartialWindow) and decoded as one batch, so many fit in a step.
        budget = 0.0 if late else self.settings.step_audio_s * SAMPLE_RATE - sum(j.samples for j in jobs)
        for job in sorted(candidates, key=lambda j: j.stream.partial_at):
            if budget <= 0:
                break
            budget -= job.samples
            job.stream.partial_end, job.stream.partial_at = job.end, now
            jobs.append(job)
        return jobs

    def _step(self, jobs: list[Job]) -> list[tuple[Stream, Update]]:
        """Runs in a worker thread: every pass of the planned jobs, batched."""
        passes: list[Pass] = []
        frozen_at: dict[int, int] = {}  # job index -> index of its freeze pass
        main_at: list[int] = []  # job index -> index of its own pass
        for n, job in enumerate(jobs):
            stream, config = job.stream, job.stream.config
            if job.final:
                main_at.append(len(passes))
                passes.append(Pass(
                    job.audio(), stream.language, config.task, config.context, tail_pad_s=FINAL_TAIL_PAD_S
                ))
                continue
            if job.freeze_end is not None:  # the window's older part, transcribed once and kept as text
                frozen_at[n] = len(passes)
                passes.append(Pass(
                    job.frozen_audio(), stream.language, config.task, config.context,
                    tail_pad_s=PARTIAL_TAIL_PAD_S, preview=True,
                ))
            prefix = stream.partial_prefix(job)
            # A partial is redone 0.3 s later anyway: a second decode of it is not worth its cost
            # (about one partial pass in eight fails the thresholds, docs/asr.md).
            main_at.append(len(passes))
            passes.append(Pass(
                job.audio(), stream.language, config.task, config.context, prefix=prefix,
                tail_pad_s=PARTIAL_TAIL_PAD_S, preview=True, fallback=False,
            ))
        began = time.monotonic()
        outputs = self.decoder.run(passes) if passes else []
        outputs = self._guard(jobs, passes, outputs, main_at)
        frozen = {
            n: clean(outputs[i].text, outputs[i].avg_logprob, outputs[i].no_speech_prob, preview=True)
            for n, i in frozen_at.items()
        }
        results = [outputs[i] for i in main_at]
        with self._counting:
            self.steps += 1
            self.passes += len(passes)
            self.fallbacks += sum(r.redecoded for r in outputs)
        now = time.monotonic()
        if passes:
            log.debug(
                "step: %d finals, %d partials, %.1f s audio, %.3f s model time",
                sum(j.final for j in jobs), sum(not j.final for j in jobs),
                sum(j.samples for j in jobs) / SAMPLE_RATE, now - began,
            )
        updates: dict[int, tuple[Stream, Update]] = {}
        for n, (job, result) in enumerate(zip(jobs, results, strict=True)):
            stream = job.stream
            self._lags.append((now, now - stream.arrival_time(job.end)))
            _, update = updates.setdefault(id(stream), (stream, Update()))
            if stream.language is None:
                stream.language = result.language
                update.language = (result.language, result.language_prob)
            text = clean(result.text, result.avg_logprob, result.no_speech_prob, preview=not job.final)
            had_partial = stream.partial is not None
            update.changed += stream.apply(job, text, frozen.get(n), result.avg_logprob)
            # A partial that turned out to be junk must disappear from the client's view too.
            update.refresh = update.refresh or bool(update.changed) or (had_partial and stream.partial is None)
            update.visible = stream.visible()  # snapshot: the next step may change the stream
        for stream, _ in updates.values():
            stream.trim()
        return [(s, u) for s, u in updates.values() if u.refresh or u.language]

    def _guard(
        self, jobs: list[Job], passes: list[Pass], outputs: list[PassResult], main_at: list[int]
    ) -> list[PassResult]:
        """The completion guard: a completed pass that keeps far fewer words than the partial it
        replaces, and is not confident (Stream.doubtful), is decoded again with beam search if
        the fallback did not already (Stream.apply then decides what to keep)."""
        if self.decoder.fallback is None:
            return outputs
        suspect = [
            i for job, i in zip(jobs, main_at, strict=True)
            if job.final and not outputs[i].redecoded
            and job.stream.doubtful(
                job, clean(outputs[i].text, outputs[i].avg_logprob, outputs[i].no_speech_prob), outputs[i].avg_logprob
            )
        ]
        return self.decoder.redecode(passes, outputs, suspect) if suspect else outputs
