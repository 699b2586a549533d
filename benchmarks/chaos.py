"""Chaos: many live meetings, each with processes killed at random moments, then checked.

Each meeting is a real bot (Chromium) in a mock Meet meeting where two espeak-ng voices take
turns, through the real appliance (`vomeet serve`, its worker and `vomeet asr` with tiny.en), with
a webhook receiver on loopback. A meeting's plan is drawn at random: one to three `kill -9` of
serve, worker or ASR at random moments of the conversation or of its end (sometimes the bot's
own process group, which fails the meeting), sometimes a random set of the named fault points
(appliance.faults) armed at a random turn, sometimes the webhook receiver down from a random turn
until the meeting has ended, and an end by the meeting (`/end` in the mock) or by the user
(`DELETE /bots`). `vomeet serve` is restarted when it dies, as systemd would.

After each meeting (tests/chaos/harness.py `check`): the meeting is terminal, every completed
segment in the ASR's spool ledger is stored once with its text, every event its moves owe was
delivered with one stable `event_id`, and `PRAGMA integrity_check` is ok on every SQLite file.
Prints a table: faults injected, meetings recovered, segments lost, events lost.

    flock /tmp/vomeet-heavy.lock .venv/bin/python benchmarks/chaos.py --faults 50 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.faults import FAULT_POINTS  # noqa: E402
from tests.chaos.harness import TERMINAL, TURNS, ChaosAppliance, Fault, MeetingRun, Outcome, WebhookReceiver, settle  # noqa: E402
from tests.conftest import free_port, wait_until  # noqa: E402
from tests.mock_meetings.server import MockMeetingServer  # noqa: E402

SPEECH_S = 22.0  # about how long the three turns take to play
END_WINDOW_S = 6.0  # kills also land this long after the end was asked for


@dataclass
class Plan:
    kills: list[tuple[str, float]]  # (process, seconds after the first turn starts)
    points: list[str]
    arm_before_turn: int
    receiver_down_at_turn: int | None
    end: str  # "meeting" (the mock ends it) or "user" (DELETE /bots)


def draw(rng: random.Random) -> Plan:
    horizon = SPEECH_S + END_WINDOW_S
    kills = [(rng.choice(("serve", "worker", "asr")), rng.uniform(0, horizon)) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.15:
        kills.append(("bot", rng.uniform(0, horizon)))
    points = rng.sample(sorted(FAULT_POINTS), rng.randint(2, 4)) if rng.random() < 0.5 else []
    return Plan(
        kills=sorted(kills, key=lambda k: k[1]), points=points, arm_before_turn=rng.randrange(3),
        receiver_down_at_turn=rng.randrange(3) if rng.random() < 0.3 else None,
        end=rng.choice(("meeting", "user")),
    )


@dataclass
class Result:
    plan: Plan
    outcome: Outcome | None = None
    error: str = ""
    faults: list[Fault] = field(default_factory=list)


def run_meeting(chaos: ChaosAppliance, control: httpx.Client, receiver: WebhookReceiver, plan: Plan, n: int) -> Result:
    result = Result(plan)
    run = MeetingRun(chaos, control, receiver, f"chaos-bench-{n}@example.com")
    timers: list[threading.Timer] = []
    fired_before = chaos.fired()
    try:
        run.begin()
        run.wait_status({"active"}, 120)
        began = time.monotonic()

        def kill(process: str, at_s: float) -> None:
            if chaos.kill(process, run.meeting):
                result.faults.append(Fault(process, at_s=at_s))

        timers = [threading.Timer(at_s, kill, (process, at_s)) for process, at_s in plan.kills]
        for timer in timers:
            timer.start()
        for i, turn in enumerate(TURNS[:3]):
            if plan.points and i == plan.arm_before_turn:
                result.faults += chaos.arm(plan.points, time.monotonic() - began)
            if plan.receiver_down_at_turn == i:
                receiver.stop()
            run.speak(*turn)
        if plan.end == "meeting":
            run.mock("end")
        else:
            wait_until(lambda: stop_accepted(run), 120, 0.5, "the stop to be accepted")
        for timer in timers:
            timer.join()
        run.wait_status(TERMINAL, 180)
        if not receiver.up:
            receiver.start()
        result.outcome = settle(run, result.faults)
        # Points fire until the meeting has settled (the worker's, while it delivers).
        result.outcome.faults += [Fault("point", name) for _, name in sorted(chaos.fired() - fired_before)]
        result.faults = result.outcome.faults
    except Exception:  # noqa: BLE001 (a run that could not finish is reported, the next one runs)
        result.error = traceback.format_exc(limit=3)
        result.faults += [Fault("point", name) for _, name in sorted(chaos.fired() - fired_before)]
    finally:
        for timer in timers:
            timer.cancel()
        if not receiver.up:
            receiver.start()
        chaos.disarm()
        run.close()
    return result


def stop_accepted(run: MeetingRun) -> bool:
    try:
        return run.client.delete(f"/bots/google_meet/{run.native}").status_code in (202, 409)
    except httpx.TransportError:
        return False


def report(results: list[Result], console: Console) -> dict[str, object]:
    faults = [f for r in results for f in r.faults]
    outcomes = [r.outcome for r in results if r.outcome is not None]
    kinds = Counter(f.kind if f.kind != "point" else f"point {f.name}" for f in faults)
    summary: dict[str, object] = {
        "meetings": len(results),
        "faults injected": len(faults),
        "meetings recovered": sum(1 for o in outcomes if o.recovered),
        "segments emitted": sum(o.segments_emitted for o in outcomes),
        "segments lost": sum(len(o.segments_lost) for o in outcomes),
        "segments duplicated": sum(len(o.segments_duplicated) for o in outcomes),
        "events expected": sum(o.events_expected for o in outcomes),
        "events lost": sum(len(o.events_lost) for o in outcomes),
        "event id problems": sum(len(o.event_id_problems) for o in outcomes),
        "meetings with events out of order": sum(1 for o in outcomes if o.out_of_order),
        "partial segments left": sum(len(o.partials_left) for o in outcomes),
        "runs that did not finish": sum(1 for r in results if r.error),
    }
    table = Table(title="chaos: kill -9 and fault points during live meetings")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, str(value))
    console.print(table)
    by_kind = Table(title="faults by kind")
    by_kind.add_column("fault")
    by_kind.add_column("injected", justify="right")
    for kind, count in sorted(kinds.items()):
        by_kind.add_row(kind, str(count))
    console.print(by_kind)
    for i, r in enumerate(results):
        if r.error or (r.outcome and not r.outcome.recovered):
            console.print(f"[red]meeting {i}[/red] plan {asdict(r.plan)}")
            console.print(r.error or r.outcome.problems())  # type: ignore[union-attr]
    summary["faults by kind"] = dict(kinds)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", type=int, default=50,
                        help="keep running meetings until this many faults were injected")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the summary, every plan and every outcome here")
    parser.add_argument("--keep", type=Path,
                        help="run in this (new) directory and keep it, logs and databases included")
    args = parser.parse_args()
    console = Console()
    rng = random.Random(args.seed)
    if args.keep:
        args.keep.mkdir(parents=True)
    kept = contextlib.nullcontext(str(args.keep)) if args.keep else None
    with kept or tempfile.TemporaryDirectory(prefix="vomeet-chaos-") as tmp:
        mock = MockMeetingServer(free_port()).start()
        chaos = ChaosAppliance(Path(tmp), mock.base_url).start()
        receiver = WebhookReceiver().start()
        control = httpx.Client(base_url=mock.base_url, timeout=30)
        results: list[Result] = []
        started = time.monotonic()
        try:
            while sum(len(r.faults) for r in results) < args.faults:
                plan = draw(rng)
                result = run_meeting(chaos, control, receiver, plan, len(results))
                results.append(result)
                recovered = result.outcome and result.outcome.recovered
                state = "error" if result.error else ("recovered" if recovered else "NOT recovered")
                console.print(f"meeting {len(results)}: {len(result.faults)} faults "
                              f"({', '.join(f.describe() for f in result.faults)}), {state}")
                chaos.wait_up()
        finally:
            control.close()
            receiver.stop()
            chaos.stop()
            mock.stop()
        summary = report(results, console)
        console.print(f"{len(results)} meetings in {time.monotonic() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps({
                "summary": summary, "plans": [asdict(r.plan) for r in results],
                "outcomes": [asdict(r.outcome) if r.outcome else {"error": r.error} for r in results],
            }, indent=1))


if __name__ == "__main__":
    main()
