"""Who speaks when on a mixed stream (Teams): the speaker turns reported to the appliance, which
labels the stream's segments with the turns they overlap most.

Two kinds of evidence come from the page:

- speaking indicators (Teams' voice-level outlines): they carry a name, but they are UI, drawn
  from the audio's level a few hundred ms after it plays;
- the RTP contributing sources (CSRC) of the mixed stream: the media server lists in each packet
  the sources whose audio is in it, so they change with the audio itself, but a source is only a
  32-bit number.

A source that starts being heard is bound to the one outline that comes on around then (or, if
none does, the one that is on); bindings last the meeting, and a contradiction rebinds only when
it is seen again. A bound source's turns are timed by its packets; the time of an unbound one is
covered by the outline turns. A page without CSRCs gets the outline turns, as they come.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("vomeet.bot.speakers")

FRAME_S = 0.02  # the audio a packet carries
# On at the first packet, off only after this long without one: a shorter pause (between words,
# at a comma) does not split a turn.
QUIET_S = 0.3
# Outline onsets from this long before a source's onset to this long after it count for it
# (outlines lag; they do not lead). A source's time waits for this before it is reported while
# the source is unbound.
BIND_BEFORE_S = 0.3
BIND_AFTER_S = 1.2
REBIND_AFTER = 2  # observations in a row naming one other person before a source is rebound
TAKEN_S = 10.0  # a name bound to another source heard this recently is not a candidate
KEEP_S = 120.0  # outline history kept (for observations and for unbound sources' time)


@dataclass
class Turn:
    start: float
    end: float  # its latest packet's end
    reported: float  # reported up to here


@dataclass
class Source:
    csrc: int
    name: str | None = None
    heard: float = -math.inf  # its latest packet
    turns: list[Turn] = field(default_factory=list)  # not yet fully reported; the last may go on
    pending: list[float] = field(default_factory=list)  # onsets not yet compared with the outlines
    doubt: str | None = None  # another name that observations gave, and how often in a row
    doubts: int = 0


@dataclass
class Outline:
    name: str
    on: float
    off: float | None = None


class SpeakerTurns:
    """Feed it the page's outline events and CSRC packets; `take` gives the turns to report."""

    def __init__(self) -> None:
        self.sources: dict[int, Source] = {}
        self.polled = -math.inf  # the page's CSRCs are known up to here
        self._outlines: list[Outline] = []
        self._reported: dict[str, float] = {}  # outline-only: name -> reported up to (on since)
        self._fallback: dict[str, float] = {}  # name -> outline time reported for unbound sources
        self._turns: list[dict[str, Any]] = []

    # -- evidence ---------------------------------------------------------------------------
    def outline(self, name: str, on: bool, at: float) -> None:
        if not name:
            return
        current = next((o for o in reversed(self._outlines) if o.name == name and o.off is None), None)
        if on and current is None:
            self._outlines.append(Outline(name, at))
        elif not on and current is not None:
            current.off = at
        if on:  # forget what is long over
            self._outlines = [o for o in self._outlines if o.off is None or o.off >= at - KEEP_S]
        if self.sources:
            return
        # No CSRCs (so far): the outline turns are the turns, reported in pieces as they go.
        if on:
            self._reported.setdefault(name, at)
        elif name in self._reported:
            self._piece(name, at)
            del self._reported[name]

    def heard(self, packets: list[tuple[int, float]], polled: float) -> None:
        """Packets from sources (CSRC, time of its latest packet), and up to when the page looked."""
        for csrc, at in packets:
            if not self.sources:
                self._switch_to_sources(at)
            source = self.sources.get(csrc)
            if source is None:
                source = self.sources[csrc] = Source(csrc)
                log.info("contributing source %d heard", csrc)
            if at <= source.heard:
                continue
            if at - source.heard >= QUIET_S or not source.turns:
                source.turns.append(Turn(at, at + FRAME_S, at))
                source.pending.append(at)
            else:
                source.turns[-1].end = at + FRAME_S
            source.heard = at
        self.polled = max(self.polled, polled)

    def _switch_to_sources(self, at: float) -> None:
        """The page has CSRCs: outline turns under way end here, sources time the turns now."""
        for name in list(self._reported):
            self._piece(name, at)
        self._reported.clear()

    # -- turns ------------------------------------------------------------------------------
    def take(self, now: float, final: bool = False) -> list[dict[str, Any]]:
        """The turn pieces known by `now` (wall clock, outline-only) or by the page's last look
        at its sources; `final`: everything, the meeting is over for the bot."""
        if not self.sources:
            for name in list(self._reported):
                self._piece(name, now)
                if final:
                    del self._reported[name]
        for source in self.sources.values():
            while source.pending and (final or self.polled >= source.pending[0] + BIND_AFTER_S):
                self._observe(source, source.pending.pop(0))
            self._report(source)
        turns, self._turns = self._turns, []
        return turns

    def _piece(self, name: str, until: float) -> None:
        """An outline-only piece: the appliance labels a mixed stream's segments when they
        arrive, so a turn must be known before its speech is transcribed."""
        start = self._reported[name]
        if until > start:
            self._add(name, start, until)
            self._reported[name] = until

    def _add(self, name: str, start: float, end: float) -> None:
        self._turns.append({"speaker": name, "start": round(start, 3), "end": round(end, 3)})

    def _report(self, source: Source) -> None:
        # An unbound source waits until its onset was compared with the outlines: a name found
        # then covers the turn from its start.
        hold = source.pending[0] if source.name is None and source.pending else math.inf
        for turn in source.turns:
            until = min(turn.end, hold)
            if until <= turn.reported:
                continue
            if source.name is not None:
                self._add(source.name, turn.reported, until)
            else:
                self._outline_pieces(turn.reported, until)
            turn.reported = until
        # A turn is over once the source has been quiet for QUIET_S; keep the one going on.
        source.turns = [t for t in source.turns
                        if t.reported < t.end or self.polled - (t.end - FRAME_S) < QUIET_S]

    def _outline_pieces(self, start: float, end: float) -> None:
        """An unbound source's time [start, end]: whoever's outline was on then."""
        for o in self._outlines:
            lo = max(start, o.on, self._fallback.get(o.name, -math.inf))
            hi = min(end, o.off if o.off is not None else math.inf)
            if hi > lo:
                self._add(o.name, lo, hi)
                self._fallback[o.name] = hi

    def _observe(self, source: Source, onset: float) -> None:
        """Which outline goes with the source that started at `onset`: the only one that came on
        around then, else the only one on; names bound to other live sources are not candidates."""
        taken = {s.name for s in self.sources.values()
                 if s is not source and s.name is not None and s.heard >= onset - TAKEN_S}
        lo, hi = onset - BIND_BEFORE_S, onset + BIND_AFTER_S
        names = {o.name for o in self._outlines if lo <= o.on <= hi} - taken
        if not names:
            names = {o.name for o in self._outlines if o.on <= hi and (o.off is None or o.off > onset)} - taken
        if len(names) != 1:
            return  # nobody, or several at once: no evidence either way
        name = names.pop()
        if source.name is None:
            source.name = name
            log.info("contributing source %d is %s", source.csrc, name)
        elif name == source.name:
            source.doubt, source.doubts = None, 0
        else:
            source.doubts = source.doubts + 1 if source.doubt == name else 1
            source.doubt = name
            if source.doubts >= REBIND_AFTER:
                log.info("contributing source %d is now %s (was %s)", source.csrc, name, source.name)
                source.name, source.doubt, source.doubts = name, None, 0
