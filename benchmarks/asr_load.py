"""Load benchmark for the streaming ASR server (WhisperLive protocol).

Starts the real server (`asr.server.main`) in a child process on loopback, streams N synthesized
meetings concurrently at real-time pace, and reports per N:
  - completed latency: receipt of a segment marked completed - when the audio at its end was sent;
  - partial latency: for points every 0.2 s of speech, from sending that audio until the first
    message whose segment (partial or completed) covers it - how long words take to show up;
  - streaming WER (all streams together) and the same model's offline WER on the same audio
    (faster-whisper `transcribe`, default beam 5, whole clip), over the meetings of that level;
  - partial WER: each utterance's last partial against as many first words of its completed
    segment - how right the words shown early were;
  - admission: streams admitted and told to WAIT, the WAIT estimates (minutes), and for each
    refusal how long it was until an admitted stream actually ended (what the estimate predicts).
Latencies and WER are of the admitted streams only. The load generator (this process) runs on
the same machine as the server and shares its cores.

    nice -n 10 .venv/bin/python benchmarks/asr_load.py --streams 1,2,4,8,16
    nice -n 10 .venv/bin/python benchmarks/asr_load.py --streams 96 --stagger-s 0 --skip-offline
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from asr import synth  # noqa: E402
from asr.client import StreamRun, stream_clip  # noqa: E402
from asr.wer import partial_errors, word_errors  # noqa: E402


@dataclass
class Result:
    streams: int
    admitted: int
    completed_p50: float
    completed_p95: float
    partial_p50: float
    partial_p95: float
    wer: float
    offline_wer: float
    partial_wer: float
    load_1min: float  # machine load average when the level ended: other work skews the numbers
    waits_min: list[float]  # WAIT estimates given, minutes
    freed_s: list[float]  # per refusal: seconds until an admitted stream actually ended
    peak_admitted: int  # most admitted streams open at once

    @property
    def refused(self) -> int:
        return self.streams - self.admitted


def completed_latencies(run: StreamRun) -> list[float]:
    seen: set[str] = set()
    latencies = []
    for received in run.segment_messages():
        for segment in received.message["segments"]:
            if segment["completed"] and segment["start"] not in seen:
                seen.add(segment["start"])
                latencies.append(received.at - run.sent_time(float(segment["end"])))
    return latencies


def text_latencies(run: StreamRun, step_s: float = 0.2) -> list[float]:
    """For points every `step_s` inside each completed segment: from sending that audio to the
    first message whose segment (partial or completed) covers it, i.e. until the words show up."""
    covered = [
        (float(s["start"]), float(s["end"]), r.at) for r in run.segment_messages() for s in r.message["segments"]
    ]
    latencies = []
    for segment in run.completed():
        for t in np.arange(float(segment["start"]), float(segment["end"]), step_s):
            first = min((at for start, end, at in covered if start <= t + 1e-6 and t <= end + 1e-6), default=None)
            if first is not None:
                latencies.append(first - run.sent_time(t))
    return latencies


def last_partial_errors(run: StreamRun) -> tuple[int, int]:
    """(errors, words) of each utterance's last partial against the words of its completed
    segment that the partial had reached (its first as many words)."""
    last_shown: dict[str, str] = {}
    for received in run.segment_messages():
        for segment in received.message["segments"]:
            if not segment["completed"]:
                last_shown[segment["start"]] = segment["text"]
    errors = words = 0
    for segment in run.completed():
        e, w = partial_errors(segment["text"], last_shown.get(segment["start"], ""))
        errors, words = errors + e, words + w
    return errors, words


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    port: int, model: str | None, engine: dict[str, float], admission: dict[str, float]
) -> subprocess.Popen[bytes]:
    """The real server in a child process, with these EngineSettings and AdmissionSettings fields."""
    settings = f"EngineSettings(admission=AdmissionSettings(**{admission!r}), **{engine!r})"
    code = (
        "from math import inf; from asr.admission import AdmissionSettings; from asr.engine import EngineSettings; "
        f"from asr.server import main; main('127.0.0.1', {port}, {model!r}, settings={settings})"
    )
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen([sys.executable, "-c", code], cwd=repo)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("ASR server exited during start-up")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("ASR server did not start within 120 s")


def server_figures(port: int, server: subprocess.Popen[bytes]) -> str:
    """What the level cost the server: its CPU time and its pass counters (fallbacks: passes
    decoded a second time, asr.decoder.Fallback), '-' where it has none."""
    with open(f"/proc/{server.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as answer:
            stats = json.load(answer)
    except OSError:
        stats = {}
    counters = ", ".join(f"{key} {stats.get(key, '-')}" for key in ("passes", "fallbacks"))
    return f"server: {cpu_s:.1f} CPU s, {counters}"


def peak_open(spans: list[tuple[float, float]]) -> int:
    """Most (start, end) spans open at the same moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def freed_after(refusals: list[float], ends: list[float]) -> list[float]:
    """For each refusal time, seconds until the first admitted stream ended after it."""
    return [min((end - at for end in ends if end > at), default=float("nan")) for at in refusals]


async def run_level(
    url: str, clips: list[synth.Clip], offline: list[tuple[int, int]], streams: int, stagger_s: float
) -> Result:
    chosen = [clips[i % len(clips)] for i in range(streams)]

    async def one(i: int, clip: synth.Clip) -> tuple[StreamRun, float]:
        await asyncio.sleep(i * stagger_s / streams)  # staggered joins, like meetings starting at different times
        config = {"uid": f"bench-{i}", "language": "en", "task": "transcribe", "model": "tiny.en", "use_vad": True}
        run = await stream_clip(url, clip.audio, config, pace=1.0)
        return run, time.monotonic()  # when it was refused, or when its stream ended

    finished = await asyncio.gather(*(one(i, c) for i, c in enumerate(chosen)))
    runs = [run for run, _ in finished]
    admitted = [(r, c) for r, c in zip(runs, chosen, strict=True) if r.handshake.get("message") == "SERVER_READY"]
    refused = [(r, at) for r, at in finished if r.handshake.get("status") == "WAIT"]
    spans = [
        (r.sent_at[0][1] if r.sent_at else at, at) for r, at in finished if r.handshake.get("message") == "SERVER_READY"
    ]
    ends = [end for _, end in spans]
    completed = [x for r, _ in admitted for x in completed_latencies(r)]
    partial = [x for r, _ in admitted for x in text_latencies(r)]
    errors = words = 0
    for run, clip in admitted:
        e, w = word_errors(clip.text, run.text())
        errors, words = errors + e, words + w
    partial_counts = [last_partial_errors(run) for run, _ in admitted]
    partial_wer = sum(e for e, _ in partial_counts) / max(sum(w for _, w in partial_counts), 1)
    offline_e = sum(offline[i % len(clips)][0] for i in range(streams))
    offline_w = sum(offline[i % len(clips)][1] for i in range(streams))
    pct = lambda xs, q: float(np.percentile(xs, q)) if xs else float("nan")  # noqa: E731
    return Result(
        streams, len(admitted), pct(completed, 50), pct(completed, 95), pct(partial, 50), pct(partial, 95),
        errors / max(words, 1), offline_e / offline_w if offline_w else float("nan"), partial_wer,
        os.getloadavg()[0], [float(r.handshake["message"]) for r, _ in refused],
        freed_after([at for _, at in refused], ends), peak_open(spans),
    )


def offline_errors(clips: list[synth.Clip], model: str | None) -> list[tuple[int, int]]:
    """(errors, words) per clip for the same model run offline (faster-whisper defaults, beam 5)."""
    from asr.models import load_model

    whisper = load_model(model).whisper
    counts = []
    for clip in clips:
        segments, _ = whisper.transcribe(clip.audio, language="en")
        counts.append(word_errors(clip.text, " ".join(s.text for s in segments)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,2,4,8,16", help="comma-separated concurrency levels")
    parser.add_argument("--turns", type=int, default=12, help="turns per meeting (12 = about 60 s)")
    parser.add_argument("--clips", type=int, default=4, help="distinct meetings (turn orders/voices)")
    parser.add_argument("--model", default=None, help="model directory; default the dev tiny.en")
    parser.add_argument("--skip-offline", action="store_true", help="do not compute the offline WER")
    parser.add_argument("--stagger-s", type=float, default=3.0,
                        help="joins spread evenly over this many seconds (0: all at once)")
    parser.add_argument("--utilisation-max", type=float, default=None,
                        help="server's AdmissionSettings.utilisation_max (inf: no projected-load check)")
    parser.add_argument("--lag-budget-s", type=float, default=None,
                        help="server's EngineSettings.lag_budget_s (inf: no lag backstop)")
    parser.add_argument("--partial-yield-s", type=float, default=None,
                        help="server's EngineSettings.partial_yield_s (inf: partials never yield)")
    parser.add_argument("--same-server", action="store_true",
                        help="run the levels one after another on one server (it keeps what it learned: costs, "
                        "stream lengths)")
    args = parser.parse_args()
    clips = [synth.meeting(args.turns, offset=3 * i) for i in range(args.clips)]
    mean_s = np.mean([c.seconds for c in clips])
    print(f"audio: {args.clips} meetings of {mean_s:.1f} s, {args.turns} turns each", flush=True)
    offline = [(0, 0)] * len(clips) if args.skip_offline else offline_errors(clips, args.model)
    print("offline WER per meeting: " + ", ".join(f"{e / w:.1%}" for e, w in offline if w), flush=True)
    rows = []
    given = (("lag_budget_s", args.lag_budget_s), ("partial_yield_s", args.partial_yield_s))
    engine = {k: v for k, v in given if v is not None}
    admission = {} if args.utilisation_max is None else {"utilisation_max": args.utilisation_max}
    levels = [int(x) for x in args.streams.split(",")]
    server: subprocess.Popen[bytes] | None = None
    for n, level in enumerate(levels):
        if server is None:  # fresh for every level unless --same-server: nothing carried over
            port = free_port()
            server = start_server(port, args.model, engine, admission)
        try:
            result = asyncio.run(run_level(f"ws://127.0.0.1:{port}", clips, offline, level, args.stagger_s))
            figures = server_figures(port, server)
        finally:
            if not args.same_server or n == len(levels) - 1 or sys.exc_info()[0] is not None:
                server.terminate()
                server.wait(30)
                server = None
        rows.append(result)
        print(result, flush=True)
        print(figures, flush=True)
    print(f"\n{os.cpu_count()} CPU cores, shared by the server and this load generator; "
          f"joins over {args.stagger_s:g} s")
    print("| streams | admitted | completed p50 / p95 (s) | partial p50 / p95 (s) | streaming WER | offline WER "
          "| partial WER | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.streams} | {r.admitted} | {r.completed_p50:.2f} / {r.completed_p95:.2f} | "
            f"{r.partial_p50:.2f} / {r.partial_p95:.2f} | {r.wer:.1%} | {r.offline_wer:.1%} | {r.partial_wer:.1%} | "
            f"{r.load_1min:.1f} |"
        )
    print("\n| streams | admitted | most at once | refused | WAIT estimate, median (min-max), min "
          "| an admitted stream ended after, median (min-max), s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.streams} | {r.admitted} | {r.peak_admitted} | {r.refused} "
              f"| {spread(r.waits_min, '.2f')} | {spread(r.freed_s, '.0f')} |")


def spread(values: list[float], spec: str) -> str:
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return "-"
    return f"{np.median(finite):{spec}} ({min(finite):{spec}}-{max(finite):{spec}})"


if __name__ == "__main__":
    main()
