"""Admission: does one more stream fit without slowing down the streams already admitted?

Completed segments are the work that cannot wait. Partial passes are elastic: under load each
stream's partial is refreshed less often (the step plan gives ended utterances the budget first),
so the load admission protects is the workers' time that completed-segment passes take:

    load = cost x sum over admitted streams of rate(stream)      (model seconds per second)

- cost: model seconds per second of utterance audio in completed-segment passes. Learned from
  every step that has one (the step's time is shared between its passes by the audio each
  encodes) as a ratio of exponentially decayed sums (half-life `cost_halflife_s` of wall time),
  which starts from `cost_prior_s_per_audio_s` weighing `cost_prior_weight_audio_s` of audio.
- rate(stream): seconds of completed-utterance audio per second the stream has been open, shrunk
  towards the typical rate by `rate_prior_weight_s` seconds of it, so a stream that has not spoken
  yet counts as a typical stream, not as free. The typical rate is the pooled rate of the open
  streams, each of them shrunk the same way towards `speech_share_prior` (a burst of new streams,
  none of which has finished an utterance yet, counts at the prior, not at zero).
- a young stream is charged at least the prior cost, fading out over `rate_prior_weight_s` of its
  age: the cost was measured at the load of the streams that were there, and a burst of new ones
  costs more per second of audio than those did (the event loop, other processes and the second
  worker contend for the same cores), so a burst on a warm engine is held as on a cold one.

A new stream (at the typical rate) is admitted while load + its cost stays within
workers x `utilisation_max`; the rest of the workers' time is left to partials and to bursts of
utterances ending together. A measured completed-segment lag over budget also refuses (the
backstop, for a box that got slower than its measured costs say).

The WAIT estimate is the time until enough admitted streams are expected to end that one more fits.
A stream of age `a` is expected to run for the median length of the streams that ended on this
engine and ran longer than `a` (before any has ended, `typical_stream_s`); a stream that outlived
all of them is expected to run as long again as it has.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

MIN_WAIT_MINUTES = 0.1  # a refused client should not come straight back


@dataclass(frozen=True)
class AdmissionSettings:
    utilisation_max: float = 0.5  # share of the workers' time completed-segment passes may take (inf: no check)
    cost_prior_s_per_audio_s: float = 0.04  # model seconds per second of utterance audio, until measured
    cost_prior_weight_audio_s: float = 5.0  # how much measured audio the prior weighs
    cost_halflife_s: float = 30.0  # a cost measurement loses half its weight in this much wall time
    speech_share_prior: float = 1.0  # utterance audio per second of a stream before streams show theirs
    rate_prior_weight_s: float = 20.0  # how many seconds of stream age the typical rate weighs
    typical_stream_s: float = 1800.0  # expected stream length (WAIT estimate) until streams have ended
    lengths_kept: int = 200  # lengths of ended streams remembered for the WAIT estimate


@dataclass(frozen=True)
class Decision:
    admit: bool
    wait_minutes: float  # 0 when admitted
    load_s_per_s: float  # projected model seconds per second of the admitted streams' completed segments
    capacity_s_per_s: float  # workers x utilisation_max
    reason: str  # why it was refused ("" when admitted)


@dataclass
class _Tally:
    opened_at: float
    speech_s: float = 0.0  # utterance audio of its completed-segment passes so far


class Admission:
    """The load model. All times are `time.monotonic()` seconds passed in, so tests feed them."""

    def __init__(self, settings: AdmissionSettings, workers: int) -> None:
        self.settings = settings
        self.workers = max(1, workers)
        self._streams: dict[Hashable, _Tally] = {}
        self._lengths: deque[float] = deque(maxlen=settings.lengths_kept)
        self._model_s = 0.0  # decayed sums of completed-segment model time and its audio
        self._audio_s = 0.0
        self._decayed_at: float | None = None

    # -- what happens ----------------------------------------------------------------------
    def opened(self, key: Hashable, now: float) -> None:
        self._streams[key] = _Tally(now)

    def closed(self, key: Hashable, now: float) -> None:
        tally = self._streams.pop(key, None)
        if tally is not None:
            self._lengths.append(now - tally.opened_at)

    def measured(self, now: float, model_s: float, spoken_s: Mapping[Hashable, float]) -> None:
        """A step spent `model_s` on completed-segment passes over `spoken_s` seconds of utterance
        audio per stream."""
        audio_s = sum(spoken_s.values())
        if audio_s <= 0:
            return
        self._decay(now)
        self._model_s += model_s
        self._audio_s += audio_s
        for key, seconds in spoken_s.items():
            if (tally := self._streams.get(key)) is not None:
                tally.speech_s += seconds

    # -- the model -------------------------------------------------------------------------
    def cost_s_per_audio_s(self, now: float) -> float:
        self._decay(now)
        s = self.settings
        prior_weight = s.cost_prior_weight_audio_s
        return (self._model_s + s.cost_prior_s_per_audio_s * prior_weight) / (self._audio_s + prior_weight)

    def typical_rate(self, now: float) -> float:
        """Utterance audio per second of a typical stream (a new one is counted at this)."""
        s = self.settings
        weight = s.rate_prior_weight_s * max(1, len(self._streams))
        spoken = sum(t.speech_s for t in self._streams.values())
        age = sum(now - t.opened_at for t in self._streams.values())
        return (spoken + s.speech_share_prior * weight) / (age + weight)

    def load_s_per_s(self, now: float) -> float:
        return sum(self._demands(now).values())

    def decide(self, now: float, lag_s: float, lag_budget_s: float, max_streams: int | None = None) -> Decision:
        demands = self._demands(now)
        load = sum(demands.values())
        capacity = self.workers * self.settings.utilisation_max
        if not self._streams:  # an idle engine gains nothing by refusing
            return Decision(True, 0.0, load, capacity, "")
        if max_streams is not None and len(self._streams) >= max_streams:
            wait = self._wait_s(now, demands, streams_to_end=len(self._streams) - max_streams + 1)
            return self._refuse(wait, load, capacity, f"{len(self._streams)} streams, the configured maximum")
        new = self._stream_cost(self.cost_s_per_audio_s(now), 0.0) * self.typical_rate(now)
        if load + new > capacity:
            wait = self._wait_s(now, demands, to_free_s_per_s=load + new - capacity)
            reason = (
                f"completed segments would take {(load + new) / self.workers:.0%} of the workers "
                f"(limit {self.settings.utilisation_max:.0%})"
            )
            return self._refuse(wait, load, capacity, reason)
        if lag_s > lag_budget_s:
            wait = self._wait_s(now, demands, streams_to_end=1)
            reason = f"completed segments {lag_s:.1f} s behind (budget {lag_budget_s:g} s)"
            return self._refuse(wait, load, capacity, reason)
        return Decision(True, 0.0, load, capacity, "")

    # -- internals -------------------------------------------------------------------------
    def _decay(self, now: float) -> None:
        if self._decayed_at is not None and now > self._decayed_at:
            factor = 0.5 ** ((now - self._decayed_at) / self.settings.cost_halflife_s)
            self._model_s, self._audio_s = self._model_s * factor, self._audio_s * factor
        self._decayed_at = now if self._decayed_at is None else max(self._decayed_at, now)

    def _stream_cost(self, cost: float, age_s: float) -> float:
        """Cost charged for a stream of this age: at least the prior while it is young."""
        extra = max(0.0, self.settings.cost_prior_s_per_audio_s - cost)
        return cost + extra * math.exp(-age_s / self.settings.rate_prior_weight_s)

    def _demands(self, now: float) -> dict[Hashable, float]:
        """Each admitted stream's projected model seconds per second."""
        cost, typical, weight = self.cost_s_per_audio_s(now), self.typical_rate(now), self.settings.rate_prior_weight_s
        return {
            key: self._stream_cost(cost, now - t.opened_at)
            * (t.speech_s + typical * weight) / (now - t.opened_at + weight)
            for key, t in self._streams.items()
        }

    def _remaining_s(self, age_s: float) -> float:
        longer = [length for length in (self._lengths or [self.settings.typical_stream_s]) if length > age_s]
        return statistics.median(longer) - age_s if longer else age_s

    def _wait_s(
        self, now: float, demands: dict[Hashable, float], *, to_free_s_per_s: float = math.inf, streams_to_end: int = 0
    ) -> float:
        """Seconds until the admitted streams expected to end first have freed `to_free_s_per_s`
        of load, or until `streams_to_end` of them have ended."""
        ends = sorted(
            (self._remaining_s(now - self._streams[key].opened_at), demand) for key, demand in demands.items()
        )
        freed = 0.0
        for count, (remaining, demand) in enumerate(ends, 1):
            freed += demand
            if freed >= to_free_s_per_s or count >= streams_to_end > 0:
                return remaining
        return ends[-1][0] if ends else 0.0

    @staticmethod
    def _refuse(wait_s: float, load: float, capacity: float, reason: str) -> Decision:
        return Decision(False, max(MIN_WAIT_MINUTES, wait_s / 60), load, capacity, reason)
