"""Memory and CPU of one meeting bot: the bot process and its whole process tree (Playwright's
driver and Chromium), in a mock meeting where participants talk all the time.

Starts the mock meetings (tests/mock_meetings) and a real appliance (`vomeet serve`, its own
data directory) whose Meet/Teams hosts are the mock, plus a WhisperLive-protocol stand-in
that accepts the bot's audio streams and discards them (so the measurement is the bot's, not
Whisper's). One bot joins; once it is active, participants speak in turns for the whole
window. Every 2 s the benchmark sums PSS (proportional set size: shared pages split between
the processes that share them) over the tree; CPU is the tree's user+system time over the
window, in cores.

    .venv/bin/python benchmarks/bot_footprint.py --platform google_meet --duration 60
    .venv/bin/python benchmarks/bot_footprint.py --platform google_meet --duration 60 --bots 3

With --bots N, N bots sit in N meetings at once and the figures are per bot: pages the bots
share (the Chromium and Node executables' code) are split between them, as on an appliance
running several bots.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from websockets.asyncio.server import serve

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Appliance, appliance_env, free_port, wait_until  # noqa: E402
from tests.mock_meetings.server import MockMeetingServer  # noqa: E402

LINES = (
    "Good morning everyone. Let's start with the quarterly budget review.",
    "Thanks. Our marketing spend was lower than planned this quarter.",
    "That is good news. What happened with the hiring plan for the support team?",
    "We hired three new engineers, and two more will join next month.",
)


class DiscardingAsr:
    """Answers SERVER_READY, drops the audio (counting the bytes) and, like a real server, says
    every 2 s that what it got so far is a completed segment (so the bot stops keeping it)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bytes = 0
        self.streams = 0
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()

    async def _handle(self, ws) -> None:
        config = json.loads(await ws.recv())
        self.streams += 1
        await ws.send(json.dumps({"uid": config["uid"], "message": "SERVER_READY", "backend": "discard"}))
        received, acked_at = 0, time.monotonic()
        with contextlib.suppress(Exception):
            async for message in ws:
                if isinstance(message, bytes):
                    self.bytes += len(message)
                    received += len(message)
                if time.monotonic() - acked_at > 2:
                    acked_at = time.monotonic()
                    end = f"{received / 4 / 16000:.3f}"
                    await ws.send(json.dumps({"uid": config["uid"], "segments": [
                        {"start": "0.000", "end": end, "text": "", "completed": True}]}))

    async def _main(self) -> None:
        self._stop = asyncio.get_running_loop().create_future()
        async with serve(self._handle, "127.0.0.1", self.port, max_size=None):
            await self._stop


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def kind(process: psutil.Process) -> str:
    """python (the bot), node (Playwright's driver), chromium-browser or chromium-<type>."""
    with contextlib.suppress(psutil.Error):
        cmdline = process.cmdline()
        for arg in cmdline:
            if arg.startswith("--type="):
                return "chromium-" + arg.split("=", 1)[1] + (
                    "-" + next((a.split("=", 1)[1] for a in cmdline if a.startswith("--utility-sub-type=")), "")
                    if arg == "--type=utility" else "")
        return "chromium-browser" if "chrom" in process.name() else process.name()
    return "?"


def breakdown(pid: int) -> dict[str, tuple[float, float]]:
    """CPU seconds and PSS MB by kind of process."""
    out: dict[str, tuple[float, float]] = {}
    for process in tree(pid):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            cpu, pss = out.get(kind(process), (0.0, 0.0))
            out[kind(process)] = (cpu + times.user + times.system, pss + process.memory_full_info().pss / 2**20)
    return out


def sample(pid: int) -> tuple[float, float, int, float]:
    """(PSS MB, CPU seconds so far, process count, USS MB) of the bot's tree."""
    pss, cpu, count, uss = 0, 0.0, 0, 0
    for process in tree(pid):
        with contextlib.suppress(psutil.Error):
            memory = process.memory_full_info()
            pss += memory.pss
            uss += memory.uss
            times = process.cpu_times()
            cpu += times.user + times.system
            count += 1
    return pss / 2**20, cpu, count, uss / 2**20


def native_id(platform: str, n: int) -> str:
    """The n-th mock meeting's id, in the platform's format."""
    return f"foo-tbar-b{chr(ord('a') + n)}z" if platform == "google_meet" else str(123456789012 + n)


def talk(control: httpx.Client, native: str, names: list[str], stop: threading.Event) -> None:
    """Participants speak in turns, each line after the previous one was played, until stopped."""
    n = 0
    while not stop.is_set():
        event = control.post(f"/control/meetings/{native}/speak",
                             json={"participant": names[n % len(names)], "text": LINES[n % len(LINES)]}).json()
        n += 1
        seq = event["seq"]
        deadline = time.monotonic() + event["duration_s"] + 10
        while not stop.is_set() and time.monotonic() < deadline:
            speech = control.get(f"/control/meetings/{native}").json()["speech"]
            if any(e["seq"] == seq and e["played"] for e in speech):
                break
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platform", choices=["google_meet", "teams"], default="google_meet")
    parser.add_argument("--duration", type=float, default=60, help="seconds measured once the bot is active")
    parser.add_argument("--participants", type=int, default=3)
    parser.add_argument("--bots", type=int, default=1,
                        help="bots in as many meetings at once; figures are per bot (shared pages split between them)")
    parser.add_argument("--recording", action="store_true", help="also stream the recording to the appliance")
    parser.add_argument("--trace", action="store_true", help="print every sample")
    args = parser.parse_args()

    mock = MockMeetingServer(free_port()).start()
    asr = DiscardingAsr()
    workdir = Path(tempfile.mkdtemp(prefix="bot-footprint-"))
    port = free_port()
    env = appliance_env(workdir / "data", port, asr_port=str(asr.port), google_meet_base_url=mock.base_url,
                        teams_base_url=mock.base_url)
    app = Appliance(workdir / "data", env, port).start()
    control = httpx.Client(base_url=mock.base_url, timeout=30)
    names = [f"Person {i + 1}" for i in range(args.participants)]
    natives = [native_id(args.platform, n) for n in range(args.bots)]
    for native in natives:
        platform = "meet" if args.platform == "google_meet" else "teams"
        control.post("/control/meetings", json={"id": native, "platform": platform,
                                                "variant": "join-now", "participants": names})
    try:
        _, token = app.new_user("footprint@example.com", max_concurrent_bots=args.bots)
        with app.client(token) as client:
            meetings = []
            for native in natives:
                body = {"platform": args.platform, "native_meeting_id": native, "recording_enabled": args.recording,
                        "automatic_leave": {"left_alone_timeout_s": 600, "nobody_joined_timeout_s": 600}}
                if args.platform == "teams":
                    body["passcode"] = "Pass1234"
                meetings.append(client.post("/bots", json=body).json())
            pids = [int(meeting["bot_container_id"].split("-")[1]) for meeting in meetings]

            def status(meeting_id: int) -> str:
                return str(client.get(f"/meetings/{meeting_id}").json()["status"])

            for meeting in meetings:
                wait_until(lambda mid=meeting["id"]: status(mid) == "active", 90, what="the bot to be active")
            time.sleep(3)  # let the capture start before the window opens

            stop = threading.Event()
            talkers = [threading.Thread(target=talk, args=(control, native, names, stop), daemon=True)
                       for native in natives]
            for talker in talkers:
                talker.start()

            def sample_all() -> tuple[float, float, int, float]:
                """Per bot: PSS, CPU seconds, process count (the largest tree), USS."""
                each = [sample(pid) for pid in pids]
                return (sum(e[0] for e in each) / len(each), sum(e[1] for e in each) / len(each),
                        max(e[2] for e in each), sum(e[3] for e in each) / len(each))

            def breakdown_all() -> dict[str, tuple[float, float]]:
                out: dict[str, tuple[float, float]] = {}
                for pid in pids:
                    for name, (cpu, pss) in breakdown(pid).items():
                        total_cpu, total_pss = out.get(name, (0.0, 0.0))
                        out[name] = (total_cpu + cpu / len(pids), total_pss + pss / len(pids))
                return out

            pss_start, cpu_start, _, _ = sample_all()
            by_kind_start = breakdown_all()
            started = time.monotonic()
            samples: list[float] = []
            counts: list[int] = []
            private: list[float] = []
            while time.monotonic() - started < args.duration:
                time.sleep(2)
                pss, cpu_now, count, uss = sample_all()
                samples.append(pss)
                counts.append(count)
                private.append(uss)
                if args.trace:
                    print(f"  {time.monotonic() - started:5.0f} s  PSS {pss:5.0f} MB  USS {uss:5.0f} MB", flush=True)
            elapsed = time.monotonic() - started
            cores = (cpu_now - cpu_start) / elapsed
            by_kind = breakdown_all()
            stop.set()
            for talker in talkers:
                talker.join(timeout=20)
            statuses = sorted({status(meeting["id"]) for meeting in meetings})
            for native in natives:
                client.delete(f"/bots/{args.platform}/{native}")
            for meeting in meetings:
                wait_until(lambda mid=meeting["id"]: status(mid) in ("completed", "failed"), 30,
                           what="the bot to leave")
    finally:
        app.stop()
        mock.stop()

    per = " per bot" if args.bots > 1 else ""
    print(f"platform {args.platform}, {args.bots} bot(s), {args.participants} participants talking in turns, "
          f"recording {'on' if args.recording else 'off'}, {elapsed:.0f} s window")
    print(f"bot status during the window: {', '.join(statuses)}; processes in a bot's tree: {max(counts)}")
    print(f"PSS of the bot's tree{per}: mean {statistics.mean(samples):.0f} MB, max {max(samples):.0f} MB "
          f"(at start of window {pss_start:.0f} MB); USS (private) mean {statistics.mean(private):.0f} MB, "
          f"max {max(private):.0f} MB")
    print(f"CPU of the bot's tree{per}: {cores:.3f} cores")
    for name, (cpu, pss) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
        used = (cpu - by_kind_start.get(name, (0.0, 0.0))[0]) / elapsed
        print(f"  {name:40s} {used:.3f} cores  {pss:5.0f} MB PSS")
    print(f"audio streamed to ASR: {asr.bytes / 4 / 16000:.0f} s of samples in {asr.streams} stream(s)")


if __name__ == "__main__":
    main()
