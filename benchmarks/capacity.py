"""What the box can hold: N meetings at once, end to end, on this machine.

Each meeting is a mock Google Meet (tests/mock_meetings) where two espeak speakers, Alice and
Bob, take turns; one real bot (Chromium) sits in each; the real appliance (`vomeet serve`, its
own data directory) runs its real ASR child (`vomeet asr`, the Whisper model it ships). For
N = 1, 2, 3, ... the benchmark measures, per level:

- latency from speech to stored segment: for each spoken turn, from the end of its audible
  speech (the mock's own clock, sample-exact) to the moment the last completed segment that
  holds its words was written (the segment row's `updated_at`, written by the appliance on the
  same clock); p50 and p95 over every turn of every meeting;
- turns lost: a turn is lost when fewer than half of its words are found, in order, in the
  completed segments stored under its speaker's name around its time;
- WER of everything stored against the script, beside the same model's offline WER on the very
  same audio (each turn's samples transcribed whole, as `asr_load.py` does);
- CPU (user+system time over the talking window, in cores) and PSS (proportional set size,
  mean of 2 s samples) of each bot's process tree, of the ASR child, of the rest of the
  appliance, the whole box's CPU in use over the window (every process, other people's
  included: the machine may be shared) and the least memory available.

It stops at the first level whose p95 is over the target (3.3 s), that loses a turn, or where
the box runs out (a bot not active in time, memory below 500 MB available), and reports the
largest N that passed and what ran out first.

    flock /tmp/vomeet-heavy.lock .venv/bin/python benchmarks/capacity.py --max-meetings 6

The appliance's own admission check is given room (VOMEET_CAPACITY_CPU_CORES, the memory
headroom and the ASR lag budget) so that the benchmark, not the check, finds the limit; the
ASR's worst reported `lag_s` (what the check reads) is shown beside its CPU. With --admission
the appliance keeps its default admission settings, and a 503 to POST /bots ends the run
(which shows where the defaults put the limit on this box):

    flock /tmp/vomeet-heavy.lock .venv/bin/python benchmarks/capacity.py --max-meetings 6 --admission
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.capacity import box_busy_s  # noqa: E402
from asr.wer import normalize, word_errors  # noqa: E402
from tests.conftest import Appliance, appliance_env, free_port, wait_until  # noqa: E402
from tests.mock_meetings.server import SAMPLE_RATE, MockMeetingServer  # noqa: E402

TARGET_P95_S = 3.3
MIN_AVAILABLE_MB = 500
AUDIBLE = 0.01  # a sample this loud is speech, not the synthesizer's padding
TURNS = (
    ("Alice", "Good morning everyone. Let's start with the quarterly budget review."),
    ("Bob", "Thanks. Our marketing spend was twelve percent lower than planned this quarter."),
    ("Alice", "That is good news. What happened with the hiring plan for the support team?"),
    ("Bob", "We hired three new engineers, and two more will join next month."),
    ("Alice", "Great. Can we move the product launch to the second week of June?"),
    ("Bob", "I think that works, but the design team needs the final copy by Friday."),
)


@dataclass
class Turn:
    meeting: str
    speaker: str
    text: str
    start: float  # epoch seconds of its first sample
    speech_end: float  # epoch seconds of its last audible sample
    samples: np.ndarray


@dataclass
class Usage:
    """CPU seconds at the window's start and end, and PSS samples (MB), of one process tree."""

    cpu_start: float = 0.0
    cpu_end: float = 0.0
    pss: list[float] = field(default_factory=list)


@dataclass
class Level:
    meetings: int
    active: bool
    latencies: list[float]
    lost: int
    turns: int
    wer: float
    offline_wer: float
    window_s: float
    bot_cores: float  # mean per bot
    bot_pss_mb: float  # mean per bot
    asr_cores: float
    asr_pss_mb: float
    appliance_cores: float  # the supervisor (API) and the worker
    mock_cores: float  # this process: the mock meetings' media senders (aiortc), espeak, the sampler
    total_cores: float
    total_pss_mb: float
    box_busy: float  # the whole box's CPU in use over the window (every process), in cores
    asr_lag_max: float  # the ASR's worst reported lag_s during the window
    available_min_mb: float
    load: tuple[float, float]
    note: str = ""

    def p(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    @property
    def passed(self) -> bool:
        return (self.active and self.lost == 0 and self.p(0.95) <= TARGET_P95_S
                and self.available_min_mb >= MIN_AVAILABLE_MB)


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_figures(pid: int, exclude: set[int] | None = None) -> tuple[float, float]:
    """(CPU seconds, PSS MB) of a process and its descendants, less the trees in `exclude`."""
    cpu = pss = 0.0
    skipped = {p.pid for root in exclude or () for p in tree(root)}
    for process in tree(pid):
        if process.pid in skipped:
            continue
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            cpu += times.user + times.system
            pss += process.memory_full_info().pss / 2**20
    return cpu, pss


class Sampler:
    """Every 2 s: PSS of each tracked tree, the box's CPU and available memory."""

    def __init__(self, roots: dict[str, int], exclude: dict[str, set[int]], asr_stats: str) -> None:
        self.roots, self.exclude, self.asr_stats = roots, exclude, asr_stats
        self.usage = {name: Usage() for name in roots}
        self.available: list[float] = []
        self.asr_lag: list[float] = []  # the ASR's own lag_s (what admission reads)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> dict[str, tuple[float, float]]:
        return {name: tree_figures(pid, self.exclude.get(name, set())) for name, pid in self.roots.items()}

    def start(self) -> Sampler:
        for name, (cpu, _) in self._read().items():
            self.usage[name].cpu_start = cpu
        self.started = time.monotonic()
        self.box_start = box_busy_s()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            for name, (_, pss) in self._read().items():
                self.usage[name].pss.append(pss)
            self.available.append(psutil.virtual_memory().available / 2**20)
            with contextlib.suppress(httpx.HTTPError, ValueError):
                self.asr_lag.append(float(httpx.get(self.asr_stats, timeout=1).json()["lag_s"]))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        for name, (cpu, _) in self._read().items():
            self.usage[name].cpu_end = cpu
        window = time.monotonic() - self.started
        # Every process on the box, ours and other people's (what the admission check reads).
        self.box_busy = (box_busy_s() - self.box_start) / window
        return window

    def cores(self, name: str, window_s: float) -> float:
        usage = self.usage[name]
        return (usage.cpu_end - usage.cpu_start) / window_s

    def pss(self, name: str) -> float:
        return statistics.mean(self.usage[name].pss) if self.usage[name].pss else 0.0


def db_epoch(text: str) -> float:
    """A naive-UTC DateTime as SQLAlchemy stores it in SQLite, as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def stored_segments(db_path: Path, meeting_id: int) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT speaker, text, completed, absolute_start_time, absolute_end_time, updated_at"
            " FROM transcript_segments WHERE meeting_id = ? ORDER BY absolute_start_time", (meeting_id,)).fetchall()
    return [
        {"speaker": r["speaker"], "text": r["text"], "completed": bool(r["completed"]),
         "start": db_epoch(r["absolute_start_time"]), "end": db_epoch(r["absolute_end_time"]),
         "stored": db_epoch(r["updated_at"])}
        for r in rows if r["absolute_start_time"] and r["absolute_end_time"]
    ]


def assign(turns: list[Turn], segments: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Each completed segment goes to the turn of its speaker that it overlaps most (or, with no
    overlap, the nearest in time): a speaker's turns are seconds apart, so this is unambiguous."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(turns))}
    for segment in segments:
        if not segment["completed"]:
            continue
        mine = [i for i, t in enumerate(turns) if t.speaker == segment["speaker"]]
        if not mine:
            continue

        def closeness(i: int, segment: dict[str, Any] = segment) -> float:
            t = turns[i]
            overlap = min(t.speech_end, segment["end"]) - max(t.start, segment["start"])
            return overlap if overlap > 0 else -min(abs(segment["start"] - t.speech_end), abs(t.start - segment["end"]))

        out[max(mine, key=closeness)].append(segment)
    return out


def found_words(text: str, heard: str) -> float:
    """Share of the turn's words found, in order, in what was heard."""
    said, got = normalize(text), normalize(heard)
    matcher = difflib.SequenceMatcher(a=said, b=got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(len(said), 1)


def speech_end(start_sample: int, samples: np.ndarray) -> float:
    loud = np.flatnonzero(np.abs(samples) > AUDIBLE)
    last = int(loud[-1]) if loud.size else len(samples) - 1
    return (start_sample + last + 1) / SAMPLE_RATE


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.mock = MockMeetingServer(free_port()).start()
        self.workdir = Path(tempfile.mkdtemp(prefix="capacity-"))
        port = free_port()
        # Admission is given room unless asked for (--admission: the appliance's defaults decide).
        room = {} if args.admission else {"capacity_cpu_cores": "64", "capacity_memory_headroom_mb": "0",
                                          "capacity_asr_lag_budget_s": "3600"}
        env = appliance_env(
            self.workdir / "data", port, asr_enabled="true", asr_port=str(free_port()),
            google_meet_base_url=self.mock.base_url, teams_base_url=self.mock.base_url, log_level="warning",
            **room)
        if args.admission:  # appliance_env relaxes admission for the test suites: back to the defaults
            for name in ("VOMEET_CAPACITY_CPU_CORES", "VOMEET_CAPACITY_ASR_LAG_BUDGET_S"):
                env.pop(name, None)
        self.app = Appliance(self.workdir / "data", env, port).start()
        wait_until(lambda: httpx.get(f"{self.app.base_url}/readyz").json()["checks"]["asr"]["ok"], 180, 0.5,
                   "the ASR server to load its model")
        _, self.token = self.app.new_user("capacity@example.com", max_concurrent_bots=0)
        self.control = httpx.Client(base_url=self.mock.base_url, timeout=60)
        self.offline_cache: dict[tuple[str, str], tuple[int, int]] = {}
        self.serial = 0

    def child_pid(self, name: str) -> int:
        children = json.loads((self.app.data_dir / "run" / "children.json").read_text())
        return int(next(c["pid"] for c in children if c["name"] == name))

    def close(self) -> None:
        self.app.stop()
        self.app.reap_leftovers()
        self.mock.stop()

    def run_level(self, n: int) -> Level:
        load_start = os.getloadavg()[0]
        natives = []
        for _ in range(n):
            self.serial += 1
            letters = chr(ord("a") + self.serial // 26 % 26) + chr(ord("a") + self.serial % 26)
            native = f"cap-m{letters}t-bot"  # a Meet code (3-4-3 letters), distinct per meeting
            self.control.post("/control/meetings", json={"id": native, "platform": "meet", "variant": "join-now",
                                                         "participants": ["Alice", "Bob"]}).raise_for_status()
            natives.append(native)
        client = self.app.client(self.token)
        meetings: list[dict[str, Any]] = []
        try:
            for native in natives:
                answer = client.post("/bots", json={
                    "platform": "google_meet", "native_meeting_id": native, "language": "en",
                    "automatic_leave": {"left_alone_timeout_s": 900, "nobody_joined_timeout_s": 900}})
                if answer.status_code == 503:  # the appliance's admission said the box is full
                    why = f"bot {len(meetings) + 1} refused, 503 (Retry-After {answer.headers.get('Retry-After')} s): "
                    return self.failed_level(n, why + answer.json()["detail"], load_start)
                assert answer.status_code == 201, answer.text
                meetings.append(answer.json())
            try:
                wait_until(lambda: all(client.get(f"/meetings/{m['id']}").json()["status"] == "active"
                                       for m in meetings), 60 + 30 * n, 0.5, "every bot to be active")
            except AssertionError as exc:
                return self.failed_level(n, str(exc), load_start)
            return self.measure(n, natives, meetings, client, load_start)
        finally:
            for native in natives:
                client.delete(f"/bots/google_meet/{native}")
            for meeting in meetings:
                with contextlib.suppress(AssertionError):
                    wait_until(lambda m=meeting: client.get(f"/meetings/{m['id']}").json()["status"]
                               in ("completed", "failed"), 60, 0.5, "the bot to leave")
            client.close()

    def failed_level(self, n: int, why: str, load_start: float) -> Level:
        return Level(n, False, [], 0, 0, float("nan"), float("nan"), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                     psutil.virtual_memory().available / 2**20, (load_start, os.getloadavg()[0]), why)

    def measure(self, n: int, natives: list[str], meetings: list[dict[str, Any]], client: httpx.Client,
                load_start: float) -> Level:
        bots = {f"bot{i}": int(m["bot_container_id"].split("-")[1]) for i, m in enumerate(meetings)}
        supervisor = self.app.process.pid  # type: ignore[union-attr]
        asr = self.child_pid("asr")
        roots = {**bots, "asr": asr, "appliance": supervisor, "mock": os.getpid()}
        stats = f"http://127.0.0.1:{self.app.env['VOMEET_ASR_PORT']}/stats"
        sampler = Sampler(roots, {"appliance": {asr, *bots.values()}, "mock": {supervisor}}, stats).start()
        # Each meeting's turns are queued back to back (gap_ms apart); synthesizing them makes the
        # meetings start a fraction of a second apart, so their turns do not end in step.
        posted: list[list[dict[str, Any]]] = []
        for native in natives:
            events = []
            for speaker, text in TURNS:
                answer = self.control.post(f"/control/meetings/{native}/speak",
                                           json={"participant": speaker, "text": text, "gap_ms": self.args.gap_ms})
                answer.raise_for_status()
                events.append(answer.json())
            posted.append(events)
        last = [events[-1]["seq"] for events in posted]
        total = max(sum(e["duration_s"] for e in events) for events in posted)

        def played() -> bool:
            done = {e["seq"] for native in natives
                    for e in self.control.get(f"/control/meetings/{native}").json()["speech"] if e["played"]}
            return all(seq in done for seq in last)

        wait_until(played, total + 30 + 5 * n, 0.5, "every conversation to be played")
        turns = self.turns(natives)
        db_path = self.app.data_dir / "vomeet.db"
        by_meeting = dict(zip(natives, meetings, strict=True))

        def settled() -> bool:
            # Everything said has a completed segment, or 20 s went by since the last turn ended.
            segments = {native: stored_segments(db_path, by_meeting[native]["id"]) for native in natives}
            return all(segments[native] and all(s["completed"] for s in segments[native]) for native in natives) \
                and time.time() > max(t.speech_end for t in turns) + 5

        with contextlib.suppress(AssertionError):
            wait_until(settled, 20 + 5 * n, 0.5, "the last segments to complete")
        window = sampler.stop()
        latencies: list[float] = []
        lost = 0
        errors = words = 0
        for native in natives:
            mine = [t for t in turns if t.meeting == native]
            segments = stored_segments(db_path, by_meeting[native]["id"])
            assigned = assign(mine, segments)
            for i, turn in enumerate(mine):
                heard = " ".join(s["text"] for s in assigned[i])
                if not assigned[i] or found_words(turn.text, heard) < 0.5:
                    lost += 1
                    continue
                latencies.append(max(s["stored"] for s in assigned[i]) - turn.speech_end)
            script = " ".join(t.text for t in mine)
            heard_all = " ".join(s["text"] for s in segments if s["completed"])
            e, w = word_errors(script, heard_all)
            errors, words = errors + e, words + w
        offline_e = offline_w = 0
        for turn in turns:
            e, w = self.offline(turn)
            offline_e, offline_w = offline_e + e, offline_w + w
        bot_cores = statistics.mean(sampler.cores(name, window) for name in bots)
        bot_pss = statistics.mean(sampler.pss(name) for name in bots)
        ours = [name for name in roots if name != "mock"]
        total_cores = sum(sampler.cores(name, window) for name in ours)
        total_pss = sum(sampler.pss(name) for name in ours)
        return Level(
            n, True, latencies, lost, len(turns), errors / max(words, 1), offline_e / max(offline_w, 1), window,
            bot_cores, bot_pss, sampler.cores("asr", window), sampler.pss("asr"), sampler.cores("appliance", window),
            sampler.cores("mock", window),
            total_cores, total_pss, sampler.box_busy, max(sampler.asr_lag, default=float("nan")),
            min(sampler.available, default=0.0),
            (load_start, os.getloadavg()[0]))

    def turns(self, natives: list[str]) -> list[Turn]:
        out = []
        for native in natives:
            meeting = self.mock.meetings.meetings[native]
            for speech in meeting.speech:
                out.append(Turn(native, speech.event["name"], speech.event["text"], speech.start / SAMPLE_RATE,
                                speech_end(speech.start, speech.samples), speech.samples))
        return out

    def offline(self, turn: Turn) -> tuple[int, int]:
        """(errors, words) of the same model on the turn's own samples, whole (cached per voice)."""
        key = (turn.speaker, turn.text)
        if key not in self.offline_cache:
            from asr.models import load_model

            if not hasattr(self, "whisper"):
                self.whisper = load_model().whisper
            segments, _ = self.whisper.transcribe(turn.samples, language="en")
            self.offline_cache[key] = word_errors(turn.text, " ".join(s.text for s in segments))
        return self.offline_cache[key]


def print_table(levels: list[Level]) -> None:
    print("| meetings | p50 / p95 (s) | turns lost | WER (offline) | per bot: CPU, PSS | ASR: CPU, PSS, worst lag "
          "| appliance CPU | ours: CPU, PSS | mock CPU | box CPU busy | least available | load | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for lv in levels:
        if not lv.active:
            print(f"| {lv.meetings} | – | – | – | – | – | – | – | – | – | {lv.available_min_mb:.0f} MB "
                  f"| {lv.load[0]:.1f} → {lv.load[1]:.1f} | not all bots active: {lv.note} |")
            continue
        verdict = "pass" if lv.passed else "fail"
        print(f"| {lv.meetings} | {lv.p(0.5):.2f} / {lv.p(0.95):.2f} | {lv.lost} of {lv.turns} "
              f"| {lv.wer:.1%} ({lv.offline_wer:.1%}) | {lv.bot_cores:.3f} cores, {lv.bot_pss_mb:.0f} MB "
              f"| {lv.asr_cores:.2f} cores, {lv.asr_pss_mb:.0f} MB, {lv.asr_lag_max:.1f} s "
              f"| {lv.appliance_cores:.3f} cores "
              f"| {lv.total_cores:.2f} cores, {lv.total_pss_mb:.0f} MB | {lv.mock_cores:.2f} cores "
              f"| {lv.box_busy:.2f} of {psutil.cpu_count()} cores "
              f"| {lv.available_min_mb:.0f} MB | {lv.load[0]:.1f} → {lv.load[1]:.1f} | {verdict} |", flush=True)


def verdict(levels: list[Level]) -> str:
    passed = [lv.meetings for lv in levels if lv.passed]
    largest = max(passed, default=0)
    failing = next((lv for lv in levels if not lv.passed), None)
    if failing is None:
        return f"largest N that passed: {largest} (no level failed up to {levels[-1].meetings})"
    if not failing.active:
        why = f"the bots: {failing.note}"
    elif failing.available_min_mb < MIN_AVAILABLE_MB:
        why = f"memory ({failing.available_min_mb:.0f} MB available)"
    elif failing.lost:
        why = f"{failing.lost} turn(s) lost"
    else:
        why = f"latency (p95 {failing.p(0.95):.2f} s > {TARGET_P95_S} s)"
    if not failing.active:
        return f"largest N that passed: {largest}; N = {failing.meetings} failed on {why}"
    cpu = f"CPU: the box {failing.box_busy:.2f} of {psutil.cpu_count()} cores busy (every process), " \
          f"ASR {failing.asr_cores:.2f} cores (worst lag {failing.asr_lag_max:.1f} s), " \
          f"bots {failing.bot_cores * failing.meetings:.2f} cores"
    return f"largest N that passed: {largest}; N = {failing.meetings} failed on {why}; {cpu}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-meetings", type=int, default=6, help="the largest N tried")
    parser.add_argument("--start", type=int, default=1, help="the first N tried")
    parser.add_argument("--gap-ms", type=int, default=700, help="pause between two turns of a meeting")
    parser.add_argument("--keep-going", action="store_true", help="try every level up to --max-meetings")
    parser.add_argument("--admission", action="store_true",
                        help="keep the appliance's default admission settings (a 503 ends the run)")
    parser.add_argument("--json", type=Path, help="also write the levels here")
    args = parser.parse_args()
    bench = Bench(args)
    levels: list[Level] = []
    try:
        for n in range(args.start, args.max_meetings + 1):
            level = bench.run_level(n)
            levels.append(level)
            print_table([level])
            if not level.passed and (not args.keep_going or not level.active):
                break
    finally:
        bench.close()
    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB; turns of {len(TURNS)} per meeting, gap {args.gap_ms} ms")
    print_table(levels)
    print(verdict(levels))
    if args.json:
        args.json.write_text(json.dumps([{**lv.__dict__, "p50": lv.p(0.5), "p95": lv.p(0.95), "passed": lv.passed}
                                         for lv in levels], indent=2, default=str))


if __name__ == "__main__":
    main()
