"""Load on the live pipeline: many bot streams in, many WebSocket subscribers out.

Starts a real appliance (`vomeet serve` on loopback, its own data directory), creates one user
and N meetings whose bot tokens the benchmark holds (rows written straight into the appliance's
SQLite file, since N real Chromium bots would measure Chromium, not the pipeline), then:

- N streams, each driven by the real ASR-side sink (`ApplianceSink`), post what an ASR stream
  produces: a partial about every 0.5 s and a completed segment about every 3 s;
- S WebSocket subscribers (spread over the meetings) follow the transcripts live.

Reports: completed segments sent, stored, and seen by every subscriber (losses counted),
ingestion-to-subscriber latency p50/p95 (sink hand-off to WebSocket arrival), and the
appliance's memory (RSS of `vomeet serve`) at start and end.

    .venv/bin/python benchmarks/pipeline_load.py --streams 50 --subscribers 200 --duration 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.security import BOT_TOKEN_PREFIX, new_secret  # noqa: E402
from asr.appliance_sink import ApplianceSink  # noqa: E402
from asr.protocol import Segment  # noqa: E402
from asr.sink import StreamInfo  # noqa: E402

STAMP = re.compile(r"#(\d+\.\d+)$")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_appliance(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOMEET_")}
    env.update(VOMEET_DATA_DIR=str(data_dir), VOMEET_PORT=str(port), VOMEET_HOST="127.0.0.1",
               VOMEET_ASR_ENABLED="false", VOMEET_LOG_LEVEL="warning")
    log = (data_dir.parent / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "appliance", "serve"], cwd=REPO, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    text = (data_dir.parent / "serve.log").read_text()
    return process, re.search(r"vma_[A-Za-z0-9_-]{40,}", text).group(0)  # type: ignore[union-attr]


def create_meetings(db_path: Path, user_id: int, count: int) -> list[tuple[int, str]]:
    """Active meetings with bot tokens the benchmark holds (only their hashes are stored)."""
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    made = []
    with sqlite3.connect(db_path) as db:
        for n in range(count):
            secret = new_secret(BOT_TOKEN_PREFIX)
            cursor = db.execute(
                "INSERT INTO meetings (user_id, platform, native_meeting_id, constructed_meeting_url, status,"
                " data, transitions, bot_token_hash, created_at, updated_at, start_time)"
                " VALUES (?, 'zoom', ?, 'https://app.zoom.us/wc/join/0', 'active', '{}', '[]', ?, ?, ?, ?)",
                (user_id, str(100000000 + n), secret.digest, now, now, now),
            )
            made.append((int(cursor.lastrowid or 0), secret.value))
    return made


async def run_stream(sink: ApplianceSink, state: StreamInfo, until: float, sent: dict[int, set[str]]) -> None:
    """One bot stream's segments, as the ASR server hands them to its sink (asr.server)."""
    position = 0.0
    words = 0
    completed_sent = 0
    meeting_id = int(state.meeting_id or 0)
    while time.time() < until:
        words += 1
        await asyncio.sleep(0.5)
        position += 0.5
        if words % 6 == 0:  # a segment completes about every 3 s
            text = f"segment {completed_sent} of {state.uid} #{time.time():.6f}"
            await sink.on_segments(state, [Segment(position - 3, position, text, True)])
            sent[meeting_id].add(f"{state.uid}:{int(state.connected_at * 1000)}:{completed_sent}")
            completed_sent += 1
        else:
            partial = Segment(position - 0.5 * (words % 6), position, f"partial #{time.time():.6f}", False)
            await sink.on_segments(state, [partial])
    await sink.on_stream_closed(state)


async def run_subscriber(
    url: str, meeting_id: int, stop: asyncio.Event, seen: set[str], latencies: list[float]
) -> None:
    async with connect(url, max_queue=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": meeting_id}]}))
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            frame = json.loads(raw)
            if frame.get("type") != "transcript.mutable":
                continue
            arrived = time.time()
            for segment in frame["payload"]["segments"]:
                stamp = STAMP.search(segment["text"])
                if stamp:
                    latencies.append(arrived - float(stamp.group(1)))
                if segment["completed"]:
                    seen.add(segment["segment_id"])


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else float("nan")


async def main_async(args: argparse.Namespace) -> None:
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="vomeet-pipeline-"))
    port = free_port()
    process, admin_key = start_appliance(workdir / "data", port)
    serve = psutil.Process(process.pid)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers={"X-Admin-API-Key": admin_key}) as admin:
            new_user = {"email": "load@example.com", "max_concurrent_bots": 0}
            user = (await admin.post("/admin/users", json=new_user)).json()
            token = (await admin.post(f"/admin/users/{user['id']}/tokens")).json()["token"]
        meetings = create_meetings(workdir / "data" / "vomeet.db", user["id"], args.streams)
        rss_start = serve.memory_info().rss
        sent: dict[int, set[str]] = {m: set() for m, _ in meetings}
        seen = [set() for _ in range(args.subscribers)]  # type: list[set[str]]
        latencies: list[float] = []
        stop = asyncio.Event()
        ws_url = f"ws://127.0.0.1:{port}/ws?api_key={token}"
        subscribers = [
            asyncio.create_task(run_subscriber(ws_url, meetings[i % len(meetings)][0], stop, seen[i], latencies))
            for i in range(args.subscribers)
        ]
        await asyncio.sleep(2)  # let every subscription land before the first segment
        sink = ApplianceSink(base)
        until = time.time() + args.duration
        console.print(f"{args.streams} streams, {args.subscribers} subscribers, {args.duration} s ...")
        await asyncio.gather(*(
            run_stream(sink, StreamInfo(f"bot{n}", str(mid), tok, "en", "transcribe"), until, sent)
            for n, (mid, tok) in enumerate(meetings)
        ))
        await sink.close()
        await asyncio.sleep(3)  # the last frames in flight
        stop.set()
        await asyncio.gather(*subscribers)
        rss_end = serve.memory_info().rss

        with sqlite3.connect(workdir / "data" / "vomeet.db") as db:
            stored = {row[0] for row in db.execute("SELECT segment_id FROM transcript_segments WHERE completed = 1")}
        all_sent = set().union(*sent.values())
        missing_in_db = len(all_sent - stored)
        missing_on_ws = 0
        for i in range(args.subscribers):
            meeting_id = meetings[i % len(meetings)][0]
            missing_on_ws += len(sent[meeting_id] - seen[i])
        table = Table("measure", "value")
        table.add_row("completed segments sent", str(len(all_sent)))
        table.add_row("missing from the database", str(missing_in_db))
        table.add_row("missing at subscribers (sum over subscribers)", str(missing_on_ws))
        table.add_row("frames measured", str(len(latencies)))
        table.add_row("latency p50 (ms)", f"{percentile(latencies, 50) * 1000:.1f}")
        table.add_row("latency p95 (ms)", f"{percentile(latencies, 95) * 1000:.1f}")
        table.add_row("appliance RSS at start (MB)", f"{rss_start / 2**20:.0f}")
        table.add_row("appliance RSS at end (MB)", f"{rss_end / 2**20:.0f}")
        console.print(table)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
