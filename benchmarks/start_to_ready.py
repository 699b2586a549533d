"""Start-to-ready time of `vomeet serve`, frozen bundle against source, in one run.

Each run starts `vomeet serve` with a fresh data directory (so it migrates a new database and
writes a new admin key, as a first boot does) on a free loopback port, with the ASR child on, and
polls `/readyz` every 50 ms. Two times per run, from the moment the process is started:

* ready: the first `/readyz` 200 (database and bot runtime ready: the API serves);
* all checks: the first `/readyz` whose every check is ok (the worker and the ASR too, the ASR
  having loaded its model).

Frozen and source runs alternate, so that the rest of a shared machine's load falls on both alike;
the load average is printed. The first run of each is a cold start (files not yet in the page
cache) and is reported apart; medians are over the warm runs.

    .venv/bin/python benchmarks/start_to_ready.py --runs 5
    .venv/bin/python benchmarks/start_to_ready.py --frozen /opt/vomeet/current/vomeet
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FROZEN = REPO / "build" / "bundle" / "dist" / "vomeet" / "vomeet"
POLL_S = 0.05
DEADLINE_S = 240.0


@dataclass(frozen=True)
class Sample:
    ready_s: float
    all_checks_s: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOMEET_")}
    env.update(VOMEET_DATA_DIR=str(data_dir), VOMEET_HOST="127.0.0.1", VOMEET_PORT=str(port),
               VOMEET_ASR_ENABLED="true", VOMEET_ASR_PORT=str(free_port()))
    return env


def measure(command: list[str]) -> Sample:
    with tempfile.TemporaryDirectory(prefix="vomeet-start-") as scratch:
        port = free_port()
        url = f"http://127.0.0.1:{port}/readyz"
        started = time.monotonic()
        process = subprocess.Popen([*command, "serve"], env=env_for(Path(scratch) / "data", port),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        ready: float | None = None
        try:
            with httpx.Client(timeout=1) as client:
                while time.monotonic() - started < DEADLINE_S:
                    if process.poll() is not None:
                        raise RuntimeError(f"{command} serve exited with {process.returncode}")
                    try:
                        answer = client.get(url)
                    except httpx.HTTPError:
                        answer = None
                    if answer is not None and answer.status_code == 200:
                        now = time.monotonic() - started
                        ready = now if ready is None else ready
                        if all(check["ok"] for check in answer.json()["checks"].values()):
                            return Sample(ready, now)
                    time.sleep(POLL_S)
            raise RuntimeError(f"{command} serve not ready within {DEADLINE_S:.0f} s")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each, the first (cold) one included")
    parser.add_argument("--frozen", type=Path, default=DEFAULT_FROZEN, help="the frozen executable")
    args = parser.parse_args()
    if not args.frozen.is_file():
        parser.error(f"{args.frozen} is missing: run `make bundle` (or pass --frozen)")
    commands = {"frozen": [str(args.frozen)], "source": [sys.executable, "-m", "appliance"]}
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    for run in range(args.runs):
        for name, command in commands.items():
            sample = measure(command)
            samples[name].append(sample)
            print(f"run {run + 1} {name:<6} ready {sample.ready_s:6.2f} s  all checks {sample.all_checks_s:6.2f} s",
                  flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'':<7} {'cold ready':>10} {'cold all':>9} {'median ready':>13} {'median all':>11}"
          f"  (medians of {max(1, args.runs - 1)} warm runs)")
    for name, runs in samples.items():
        warm = runs[1:] or runs
        print(f"{name:<7} {runs[0].ready_s:>9.2f}s {runs[0].all_checks_s:>8.2f}s "
              f"{statistics.median(s.ready_s for s in warm):>12.2f}s "
              f"{statistics.median(s.all_checks_s for s in warm):>10.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
