"""REST API benchmark against a real appliance (`vomeet serve` on loopback).

Starts `vomeet serve` with a temporary data directory (ASR off), creates a user and a token
through the admin API, writes meetings and one meeting's transcript segments straight into the
appliance's SQLite file through the ORM models, then measures:

* latency (p50/p95) of `GET /transcripts/{platform}/{native_meeting_id}` for a meeting with
  `--segments` segments: `--requests` sequential requests on one keep-alive connection, after a
  warm-up;
* throughput of `GET /meetings` (the user's `--meetings` meetings, default page of 100) under
  `--clients` concurrent clients for `--duration-s` seconds.

The load generator runs on the same machine as the appliance (one asyncio thread), so it takes
part of the CPU; numbers are for the whole box, as an on-prem appliance serves its LAN. Latency
and throughput move with whatever else runs on the machine (the load average is printed); the
API process's CPU time per request is printed too, and is the steadier number to compare runs by.

    .venv/bin/python benchmarks/api_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN_KEY = re.compile(r"vma_[A-Za-z0-9_-]{40,}")
console = Console(width=130)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_appliance(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOMEET_")}
    env.update(
        VOMEET_DATA_DIR=str(data_dir), VOMEET_HOST="127.0.0.1", VOMEET_PORT=str(port),
        VOMEET_ASR_ENABLED="false", VOMEET_ASR_PORT=str(free_port()), VOMEET_LOG_LEVEL="warning",
    )
    log_path = data_dir.parent / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve"], cwd=REPO, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"vomeet serve exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the appliance did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    key = ADMIN_KEY.search(log_path.read_text(errors="replace"))
    if key is None:
        raise SystemExit("no admin key in the appliance's output")
    return process, key.group(0), log_path


def create_user(base_url: str, admin_key: str) -> tuple[int, str]:
    with httpx.Client(base_url=base_url, headers={"X-Admin-API-Key": admin_key}) as admin:
        user = admin.post("/admin/users", json={"email": "bench@example.com", "max_concurrent_bots": 0})
        user.raise_for_status()
        token = admin.post(f"/admin/users/{user.json()['id']}/tokens")
        token.raise_for_status()
    return user.json()["id"], token.json()["token"]


def insert_data(data_dir: Path, user_id: int, meetings: int, segments: int) -> str:
    """Meetings (the first carries the transcript) written with the appliance's own models."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from appliance.db.models import Meeting, TranscriptSegment

    engine = create_engine(f"sqlite:///{data_dir / 'vomeet.db'}")
    start = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    native_ids = [f"bch-{_letters(i)}-mtg" for i in range(meetings)]  # valid Meet codes
    with Session(engine) as session:
        rows = []
        for i, native in enumerate(native_ids):
            begun = start + timedelta(hours=i)
            meeting = Meeting(
                user_id=user_id, platform="google_meet", native_meeting_id=native,
                constructed_meeting_url=f"https://meet.google.com/{native}", status="completed",
                completion_reason="stopped", start_time=begun, end_time=begun + timedelta(hours=1),
                data={"bot_name": "Vomeet Notetaker", "name": f"Meeting {i}", "language": "en",
                      "task": "transcribe", "participants": ["Ada", "Grace", "Linus"]},
                transitions=[
                    {"from": None, "to": "requested", "at": begun.isoformat(), "source": "user", "reason": None},
                    {"from": "requested", "to": "joining", "at": begun.isoformat(), "source": "bot", "reason": None},
                    {"from": "joining", "to": "active", "at": begun.isoformat(), "source": "bot", "reason": None},
                    {"from": "active", "to": "completed", "at": (begun + timedelta(hours=1)).isoformat(),
                     "source": "bot", "reason": "stopped"},
                ],
                runtime_kind="process", bot_container_id=f"pid-{1000 + i}-0",
                created_at=begun, updated_at=begun + timedelta(hours=1),
            )
            rows.append(meeting)
        session.add_all(rows)
        session.flush()
        first = rows[0]
        speakers = ["Ada", "Grace", "Linus"]
        for n in range(segments):
            at = first.start_time + timedelta(seconds=n * 1.8)  # type: ignore[operator]
            session.add(TranscriptSegment(
                meeting_id=first.id, segment_id=f"seg-{n:05d}", start=n * 1.8, end=n * 1.8 + 1.7,
                text=f"Segment {n}: we should look at the quarterly numbers before the review on Friday.",
                language="en", speaker=speakers[n % 3], completed=True,
                absolute_start_time=at, absolute_end_time=at + timedelta(seconds=1.7),
                created_at=at, updated_at=at,
            ))
        session.commit()
        native = first.native_meeting_id
    engine.dispose()
    return native


def _letters(n: int, width: int = 4) -> str:
    out = ""
    for _ in range(width):
        n, digit = divmod(n, 26)
        out = chr(97 + digit) + out
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def cpu_s(server: psutil.Process) -> float:
    """CPU seconds used so far by the API process (all its threads)."""
    times = server.cpu_times()
    return times.user + times.system


def bench_transcript(
    server: psutil.Process, base_url: str, token: str, native: str, warmup: int, requests: int, segments: int
) -> dict[str, float]:
    path = f"/transcripts/google_meet/{native}"
    timings: list[float] = []
    with httpx.Client(base_url=base_url, headers={"X-API-Key": token}, timeout=30) as client:
        for _ in range(warmup):
            client.get(path).raise_for_status()
        size = 0
        cpu_before = cpu_s(server)
        for _ in range(requests):
            began = time.perf_counter()
            answer = client.get(path)
            timings.append(time.perf_counter() - began)
            answer.raise_for_status()
            size = len(answer.content)
        cpu = cpu_s(server) - cpu_before
        got = len(answer.json()["segments"])
        if got != segments:
            raise SystemExit(f"expected {segments} segments, got {got}")
    return {
        "p50_ms": percentile(timings, 50) * 1000, "p95_ms": percentile(timings, 95) * 1000,
        "mean_ms": statistics.fmean(timings) * 1000, "max_ms": max(timings) * 1000,
        "bytes": size, "requests": requests, "cpu_ms": cpu / requests * 1000,
    }


async def bench_meetings(
    server: psutil.Process, base_url: str, token: str, clients: int, duration_s: float, meetings: int
) -> dict[str, float]:
    timings: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": token}, timeout=30, limits=limits) as client:
        check = await client.get("/meetings")
        check.raise_for_status()
        if len(check.json()["meetings"]) != min(meetings, 100):
            raise SystemExit(f"GET /meetings returned {len(check.json()['meetings'])} meetings")
        for _ in range(clients):  # warm-up: open every connection once
            (await client.get("/meetings")).raise_for_status()
        deadline = time.perf_counter() + duration_s

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    answer = await client.get("/meetings")
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    timings.append(time.perf_counter() - began)
                else:
                    errors += 1

        began, cpu_before = time.perf_counter(), cpu_s(server)
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
        cpu = cpu_s(server) - cpu_before
    return {
        "rps": len(timings) / elapsed, "requests": len(timings), "errors": errors, "elapsed_s": elapsed,
        "p50_ms": percentile(timings, 50) * 1000, "p95_ms": percentile(timings, 95) * 1000,
        "cpu_ms": cpu / max(1, len(timings) + errors) * 1000, "cpu_share": cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=2000)
    parser.add_argument("--meetings", type=int, default=50,
                        help="meetings of the user (GET /meetings returns up to 100)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration-s", type=float, default=15.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="vomeet-bench-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process, admin_key, log_path = start_appliance(root / "data", port)
    server = psutil.Process(process.pid)  # the API runs in the supervisor process itself
    try:
        user_id, token = create_user(base_url, admin_key)
        native = insert_data(root / "data", user_id, args.meetings, args.segments)
        console.print(f"appliance on {base_url}, {args.meetings} meetings, {args.segments} segments; measuring…")
        transcript = bench_transcript(server, base_url, token, native, args.warmup, args.requests, args.segments)
        listing = asyncio.run(bench_meetings(server, base_url, token, args.clients, args.duration_s, args.meetings))
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if code != 0:
        console.print(f"[red]vomeet serve exited with {code}[/red]")

    table = Table(
        title=f"Vomeet REST API on {os.cpu_count()} cores ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        caption=f"load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}: "
        "other work on the machine shares its cores",
    )
    table.add_column("measurement")
    table.add_column("load")
    table.add_column("result", justify="right")
    table.add_column("API CPU per request", justify="right")
    table.add_row(
        f"GET /transcripts/google_meet/{{id}} ({args.segments} segments, {transcript['bytes'] / 1e6:.2f} MB)",
        f"{args.requests} sequential after {args.warmup} warm-up",
        f"p50 {transcript['p50_ms']:.1f} ms, p95 {transcript['p95_ms']:.1f} ms "
        f"(mean {transcript['mean_ms']:.1f}, max {transcript['max_ms']:.1f})",
        f"{transcript['cpu_ms']:.1f} ms",
    )
    table.add_row(
        f"GET /meetings ({min(args.meetings, 100)} meetings per page)",
        f"{args.clients} concurrent clients, {listing['elapsed_s']:.1f} s",
        f"{listing['rps']:.0f} req/s ({listing['requests']} ok, {listing['errors']} errors; "
        f"p50 {listing['p50_ms']:.0f} ms, p95 {listing['p95_ms']:.0f} ms)",
        f"{listing['cpu_ms']:.1f} ms ({listing['cpu_share'] * 100:.0f}% of a core)",
    )
    console.print(table)


if __name__ == "__main__":
    main()
