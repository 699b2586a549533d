"""Whether the box can hold one more bot: the live bots' measured cost against what the box has.

A bot costs CPU and memory for its whole process tree (the bot, Playwright's driver, Chromium),
and each meeting's speakers cost the ASR server CPU. `BotMeter` measures the running bots
(psutil over each tree); a bot too young to be measured, or whose process is not started yet,
counts at the configured estimate. `BoxMeter` reads the whole box's CPU, every process, so that
other load on the box (or an ASR working harder than its share) counts too. `decide` is the
rule alone: figures in, verdict out.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from appliance.asr_stats import STATS_ERRORS, fetch_asr_stats
from appliance.config import Settings
from appliance.runtime.process import process_for

# A bot's first minute (Chromium starting, the page loading, joining) costs more than its
# steady state; until then it counts at the estimate.
WARMUP_S = 60.0
# CPU is a rate: measured between two readings at least this far apart.
MIN_WINDOW_S = 10.0
# Readings older than this are replaced, so the rate follows what a bot costs lately.
MAX_WINDOW_S = 300.0
# The box's CPU: read this often, over this long a window.
BOX_SAMPLE_S = 5.0
BOX_WINDOW_S = 30.0


@dataclass(frozen=True)
class BotCost:
    """One running bot: its age, measured CPU (None while it warms up) and PSS."""

    age_s: float
    cores: float | None
    pss_mb: float


@dataclass(frozen=True)
class AsrLoad:
    streams: int
    lag_s: float
    admitting: bool  # the server's own admission state, where it reports one (else True)
    wait_s: float = 0.0  # its own estimate of when it admits again (`wait_minutes`)


@dataclass(frozen=True)
class BoxLoad:
    cores: float  # CPU the appliance may use, in cores
    available_mb: float  # memory available now (the kernel's MemAvailable)
    bots: list[BotCost]
    pending: int  # live meetings whose bot process is not (yet) running: counted at the estimate
    asr: AsrLoad | None  # None: no ASR server answered
    busy_cores: float | None = None  # the whole box's CPU in use lately, every process (None: not known yet)


@dataclass(frozen=True)
class Limits:
    bot_cores: float  # estimate for a bot not measured yet, and for the one asked for
    bot_memory_mb: float
    asr_cores_per_bot: float  # the local ASR's CPU per meeting; 0 when the ASR runs elsewhere
    reserved_cores: float  # kept free: the API, the worker, the idle time the ASR needs
    memory_headroom_mb: float
    asr_lag_budget_s: float
    retry_after_s: float  # when nothing better is known: a meeting's end cannot be foreseen

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            bot_cores=settings.capacity_bot_cpu_cores,
            bot_memory_mb=settings.capacity_bot_memory_mb,
            asr_cores_per_bot=settings.capacity_asr_cpu_cores_per_bot if settings.asr_enabled else 0.0,
            reserved_cores=settings.capacity_reserved_cores,
            memory_headroom_mb=settings.capacity_memory_headroom_mb,
            asr_lag_budget_s=settings.capacity_asr_lag_budget_s,
            retry_after_s=settings.capacity_retry_after_s,
        )


@dataclass(frozen=True)
class Verdict:
    admit: bool
    full: tuple[str, ...]  # what is full: "CPU", "memory", "ASR"
    detail: str  # what is full and how to fix it ("" when admitted)
    retry_after_s: int  # 0 when admitted


def decide(load: BoxLoad, limits: Limits) -> Verdict:
    """Admit one more bot, or say what is full, how to fix it and when to retry."""
    warming = [b for b in load.bots if b.cores is None]
    measured = sum(b.cores for b in load.bots if b.cores is not None)
    estimated = (len(warming) + load.pending) * limits.bot_cores
    meetings = len(load.bots) + load.pending
    asr_cores = (meetings + 1) * limits.asr_cores_per_bot
    cpu_need = measured + estimated + limits.bot_cores + asr_cores + limits.reserved_cores
    # What the box really does (other processes, an ASR working harder than its share), plus the
    # new meeting; bots still starting may be in that figure already: counted again, to be safe.
    starting = len(warming) + load.pending
    one_more = limits.bot_cores + limits.asr_cores_per_bot
    busy_need = (load.busy_cores + starting * limits.bot_cores + one_more + limits.reserved_cores
                 if load.busy_cores is not None else 0.0)
    # Young bots have not reached their full size yet: what they will still take is counted.
    growth = sum(max(0.0, limits.bot_memory_mb - b.pss_mb) for b in warming) + load.pending * limits.bot_memory_mb
    memory_need = growth + limits.bot_memory_mb + limits.memory_headroom_mb

    # Until the young bots are measured their estimate stands (a pending one has its whole first
    # minute ahead); after that, only a meeting's end frees room, and that cannot be foreseen.
    settle_s = min([WARMUP_S - b.age_s for b in warming] + ([WARMUP_S] if load.pending else []), default=0.0)
    box_wait_s = settle_s if starting else limits.retry_after_s
    reasons: list[tuple[str, str, float]] = []
    if cpu_need > load.cores:
        reasons.append((
            "CPU",
            f"CPU: {meetings} live bot(s) take {measured + estimated:.2f} cores ({measured:.2f} measured"
            f"{f', {starting} starting at {limits.bot_cores:g} each' if starting else ''})"
            f"{f', the ASR {asr_cores:.2f} for {meetings + 1} meetings' if asr_cores else ''}"
            f" and {limits.reserved_cores:g} are kept free; with one more bot at {limits.bot_cores:g}"
            f" that is {cpu_need:.2f} of the {load.cores:g} cores this box offers",
            box_wait_s,
        ))
    elif busy_need > load.cores:
        reasons.append((
            "CPU",
            f"CPU: the box is {load.busy_cores:.2f} of its {load.cores:g} cores busy (every process"
            f"{f', and {starting} bot(s) starting' if starting else ''}); one more meeting needs"
            f" {one_more:.2f} and {limits.reserved_cores:g} are kept free",
            box_wait_s,
        ))
    if memory_need > load.available_mb:
        reasons.append((
            "memory",
            f"memory: {load.available_mb:.0f} MB available, one more bot needs {limits.bot_memory_mb:.0f} MB"
            f"{f' and the starting ones {growth:.0f} MB more' if growth else ''}"
            f", keeping {limits.memory_headroom_mb:.0f} MB free",
            box_wait_s,
        ))
    # As the ASR's own admission: lag left over from streams that have all ended does not count.
    asr = load.asr
    if asr is not None and (not asr.admitting or (asr.streams > 0 and asr.lag_s > limits.asr_lag_budget_s)):
        reasons.append((
            "ASR",
            f"ASR: the transcription server is {asr.lag_s:.1f} s behind with {asr.streams} streams "
            f"(budget {limits.asr_lag_budget_s:g} s{'' if asr.admitting else ', and it refuses new streams'})",
            max(asr.lag_s, asr.wait_s, 1.0),
        ))
    if not reasons:
        return Verdict(True, (), "", 0)
    retry = max(1, math.ceil(max(wait for _, _, wait in reasons)))
    detail = (
        "This appliance cannot hold another bot now; "
        + "; ".join(text for _, text, _ in reasons)
        + f". Retry in {retry} s, stop a live bot (DELETE /bots/{{platform}}/{{native_meeting_id}}), "
        "or run fewer meetings at once on this box (docs/configuration.md, VOMEET_CAPACITY_*)."
    )
    return Verdict(False, tuple(name for name, _, _ in reasons), detail, retry)


def box_cores(settings: Settings) -> float:
    if settings.capacity_cpu_cores > 0:
        return settings.capacity_cpu_cores
    return float(len(os.sched_getaffinity(0)))


class Rates:
    """CPU rates (cores) of growing CPU-second counters, from readings taken when asked: the rate
    since a reference reading at least MIN_WINDOW_S old (closer: the last rate stands), the
    reference moving to the newest reading once it is MAX_WINDOW_S old."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._readings: dict[str, tuple[float, float]] = {}  # key -> (clock time, CPU s)
        self._rates: dict[str, float] = {}

    def update(self, key: str, cpu_s: float, first_rate: float | None = None) -> float | None:
        now = self._clock()
        reading = self._readings.get(key)
        if reading is None:
            self._readings[key] = (now, cpu_s)
            if first_rate is not None:
                self._rates[key] = first_rate
        elif now - reading[0] >= MIN_WINDOW_S:
            self._rates[key] = (cpu_s - reading[1]) / (now - reading[0])
            if now - reading[0] >= MAX_WINDOW_S:
                self._readings[key] = (now, cpu_s)
        return self._rates.get(key)

    def keep_only(self, keys: set[str]) -> None:
        for gone in set(self._readings) - keys:
            self._readings.pop(gone, None)
            self._rates.pop(gone, None)


def box_busy_s() -> float:
    """CPU seconds the whole box has been busy since boot, all cores (guest time is in user)."""
    t = psutil.cpu_times()  # psutil's stubs type the named tuple's fields as Any
    busy: float = t.user + t.nice + t.system + t.irq + t.softirq + t.steal
    return busy


class BoxMeter:
    """The whole box's CPU in use, every process, over the last BOX_WINDOW_S: a daemon thread
    reads it every BOX_SAMPLE_S from the first request on (not from start: the appliance's own
    start, the ASR loading its model, is no measure of load). A figure is given once the readings
    span MIN_WINDOW_S; a load that has ended stops counting after BOX_WINDOW_S."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, busy_s: Callable[[], float] = box_busy_s
    ) -> None:
        self._clock, self._busy_s = clock, busy_s
        self._readings: deque[tuple[float, float]] = deque()  # (clock time, busy CPU s)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def read(self) -> None:
        with self._lock:
            now = self._clock()
            self._readings.append((now, self._busy_s()))
            # Keep the newest reading at least BOX_WINDOW_S old, so the window is always covered.
            while len(self._readings) > 2 and now - self._readings[1][0] >= BOX_WINDOW_S:
                self._readings.popleft()

    def _sample(self) -> None:
        while True:
            time.sleep(BOX_SAMPLE_S)
            self.read()

    def busy_cores(self) -> float | None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, name="box-cpu", daemon=True)
            self._thread.start()
        self.read()
        with self._lock:
            (start, busy_start), (end, busy_end) = self._readings[0], self._readings[-1]
        return (busy_end - busy_start) / (end - start) if end - start >= MIN_WINDOW_S else None


class BotMeter:
    """CPU and PSS of each running bot's process tree, from readings taken when asked."""

    def __init__(self) -> None:
        self._rates = Rates()

    def measure(self, handles: list[str]) -> list[BotCost]:
        costs = []
        for handle in handles:
            process = process_for(handle)
            if process is None:
                continue  # gone: its meeting ends on its own
            with contextlib.suppress(psutil.Error):
                costs.append(self._cost(handle, process))
        self._rates.keep_only(set(handles))
        return costs

    def _cost(self, handle: str, root: psutil.Process) -> BotCost:
        cpu = pss = 0.0
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                cpu += times.user + times.system + times.children_user + times.children_system
                pss += process.memory_full_info().pss / 2**20
        age = time.time() - root.create_time()
        if age < WARMUP_S:
            return BotCost(age, None, pss)
        # First look after the warm-up: the average since start, the start's burst included.
        return BotCost(age, self._rates.update(handle, cpu, first_rate=cpu / age), pss)


async def box_load(
    settings: Settings, bots: BotMeter, box: BoxMeter, handles: list[str], live_meetings: int
) -> BoxLoad:
    """The box as it is now: its running bots measured, the rest of the live meetings pending."""
    costs = await asyncio.to_thread(bots.measure, handles)
    return BoxLoad(
        cores=box_cores(settings),
        available_mb=psutil.virtual_memory().available / 2**20,
        bots=costs,
        pending=max(0, live_meetings - len(costs)),
        asr=await asr_load(settings),
        busy_cores=box.busy_cores(),
    )


async def asr_load(settings: Settings) -> AsrLoad | None:
    """The ASR server's `GET /stats`, or None if it does not answer (readiness reports that)."""
    try:
        stats = await fetch_asr_stats(settings, timeout_s=1.0)
        return AsrLoad(int(stats.get("streams") or 0), float(stats.get("lag_s") or 0.0),
                       stats.get("admitting") is not False, 60 * float(stats.get("wait_minutes") or 0.0))
    except (*STATS_ERRORS, TypeError, AttributeError):
        return None
