"""Chaos runs: a live meeting through the real appliance while its processes are killed.

The parts are the real ones: `vomeet serve` with its worker and `vomeet asr` children (the real
tiny.en model), a real bot (Chromium) in a mock Meet meeting whose participants speak with
espeak-ng voices, and a webhook receiver on loopback that can be down for a while. Processes die
by `kill -9` (serve, worker, asr, the bot's process group) or at a named fault point
(appliance.faults); `Systemd` restarts `vomeet serve` as `Restart=always` would, the supervisor
restarts its children, nobody restarts a bot.

After a run, `check` compares what the appliance stored and delivered with what the ASR
emitted (its spool's ledger, asr.spool) and with the moves the meeting went
through. Used by tests/chaos and benchmarks/chaos.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from asr.spool import read_ledger, text_digest
from asr.wer import normalize
from tests.conftest import Appliance, appliance_env, free_port, wait_until

T = TypeVar("T")
PROCESSES = ("serve", "worker", "asr", "bot")
TERMINAL = {"completed", "failed"}
END_EVENTS = ("meeting.completed", "transcript.ready")
TURNS = (
    ("Alice", "Good morning everyone. Let's start with the quarterly budget review."),
    ("Bob", "Thanks. Our marketing spend was lower than planned this quarter."),
    ("Alice", "That is good news. What happened with the hiring plan for the support team?"),
    ("Bob", "We hired three new engineers, and two more will join next month."),
)
QUICK_LEAVE = {"waiting_room_timeout_s": 120, "nobody_joined_timeout_s": 120, "left_alone_timeout_s": 120}
RECOVERY_TIMEOUT_S = 150.0


class WebhookReceiver:
    """A webhook endpoint on a fixed loopback port that can go down and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: connections are refused until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def up(self) -> bool:
        return self._server is not None

    def of_meeting(self, meeting_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.received if e["data"].get("meeting", {}).get("id") == meeting_id]


def tolerant(call: Callable[[], T], timeout_s: float = 90.0, what: str = "the appliance") -> T:
    """`call()` retried while the appliance is down or restarting (connection errors, 5xx)."""
    result: list[T] = []

    def attempt() -> bool:
        try:
            result.append(call())
            return True
        except (httpx.TransportError, ServerError):
            return False

    wait_until(attempt, timeout_s, 0.3, what)
    return result[0]


class ServerError(Exception):
    pass


def answered(response: httpx.Response, *ok: int) -> Any:
    if response.status_code >= 500:
        raise ServerError(response.text[:200])
    request = response.request
    assert response.status_code in ok, f"{request.method} {request.url}: {response.status_code} {response.text[:300]}"
    return response.json() if response.content else None


class Systemd(threading.Thread):
    """Restarts `vomeet serve` whenever it is gone, as systemd's Restart=always does."""

    def __init__(self, app: Appliance) -> None:
        super().__init__(daemon=True, name="systemd")
        self.app = app
        self.restarts = 0
        self._halted = threading.Event()
        self.up = threading.Event()

    def run(self) -> None:
        while not self._halted.is_set():
            process = self.app.process
            if process is not None and process.poll() is not None:
                self.up.clear()
                self.restarts += 1
                with contextlib.suppress(AssertionError):  # it may die again at a fault point
                    self.app.start()
                continue
            self.up.set()
            self._halted.wait(0.2)

    def halt(self) -> None:
        self._halted.set()
        self.join()


@dataclass
class Fault:
    """One fault injected: a process killed, or a fault point armed."""

    kind: str  # serve | worker | asr | bot | point
    name: str = ""  # the fault point's name
    at_s: float = 0.0  # seconds into the meeting

    def describe(self) -> str:
        return self.name if self.kind == "point" else f"kill -9 {self.kind}"


class ChaosAppliance:
    """`vomeet serve` with the ASR, on loopback, pointed at the mock meetings, kept running."""

    def __init__(self, root: Path, meetings_url: str) -> None:
        self.root = root
        port = free_port()
        self.asr_port = free_port()
        env = appliance_env(
            root / "data", port, asr_enabled="true", asr_port=str(self.asr_port),
            google_meet_base_url=meetings_url, teams_base_url=meetings_url,
            webhook_retry_base_s="0.5", webhook_allow_internal_targets="true", bot_stop_grace_s="20",
            # Kills here are on purpose and many: the supervisor must not give up on a child.
            child_restart_limit="1000", child_backoff_max_s="2",
        )
        self.app = Appliance(root / "data", env, port)
        self.systemd = Systemd(self.app)
        self.armings = 0

    @property
    def data_dir(self) -> Path:
        return self.app.data_dir

    @property
    def spool_path(self) -> Path:
        return self.data_dir / "asr-spool.db"

    def start(self) -> ChaosAppliance:
        self.app.start()
        self.systemd.start()
        self.wait_asr()
        return self

    def stop(self) -> None:
        self.systemd.halt()
        if self.app.process is not None and self.app.process.poll() is None:
            self.app.stop()
        self.app.reap_leftovers()

    def wait_up(self) -> None:
        wait_until(lambda: self.systemd.up.is_set() and self._healthy(), 90, 0.2, "vomeet serve to be back")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.app.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_asr(self) -> None:
        def ready() -> bool:
            try:
                return bool(httpx.get(f"{self.app.base_url}/readyz", timeout=5).json()["checks"]["asr"]["ok"])
            except (httpx.HTTPError, ValueError, KeyError):
                return False
        wait_until(ready, 120, 0.5, "the ASR server to load its model")

    def asr_streams(self) -> int | None:
        """Streams the ASR server holds now (None while it is down)."""
        try:
            return int(httpx.get(f"http://127.0.0.1:{self.asr_port}/stats", timeout=2).json()["streams"])
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def child_pid(self, name: str) -> int | None:
        try:
            children = json.loads((self.data_dir / "run" / "children.json").read_text())
        except (OSError, ValueError):
            return None
        return next((c["pid"] for c in children if c["name"] == name and c.get("pid")), None)

    def kill(self, process: str, meeting: dict[str, Any] | None = None) -> bool:
        """kill -9 of one process (a child or a bot with its whole process group); False if it was
        not running at that moment."""
        if process == "serve":
            live = self.app.process is not None and self.app.process.poll() is None
            if live:
                self.app.process.kill()  # type: ignore[union-attr]
            return live
        if process == "bot":
            handle = (meeting or {}).get("bot_container_id") or ""
            pid = int(handle.split("-")[1]) if handle.startswith("pid-") else None
        else:
            pid = self.child_pid(process)
        if pid is None or not psutil.pid_exists(pid):
            return False
        try:
            os.killpg(pid, signal.SIGKILL)  # each runs in a session of its own
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def arm(self, points: list[str], at_s: float = 0.0) -> list[Fault]:
        """From now on, processes start with these fault points armed (each fires once): serve
        is killed to restart with them, and so are the worker and the ASR server, which the new
        supervisor starts with its own environment. Returns those kills."""
        self.armings += 1
        state = self.root / f"faults-{self.armings}"
        state.mkdir()
        self.app.env.update(VOMEET_FAULT_POINTS=",".join(points), VOMEET_FAULT_STATE=str(state))
        kills = [Fault("serve", at_s=at_s)] if self.kill("serve") else []
        self.wait_up()
        for child in ("worker", "asr"):
            wait_until(lambda child=child: self.kill(child), 30, 0.2, f"the {child} to kill")
            kills.append(Fault(child, at_s=at_s))
        self.wait_up()
        self.wait_asr()
        return kills

    def disarm(self) -> None:
        self.app.env.pop("VOMEET_FAULT_POINTS", None)
        self.app.env.pop("VOMEET_FAULT_STATE", None)

    def fired(self) -> set[tuple[str, str]]:
        """Fault points that fired so far: (arming, point name), over every arming."""
        return {(p.parent.name, p.name.removesuffix(".fired")) for p in self.root.glob("faults-*/*.fired")}


def meet_code() -> str:
    def letters(n: int) -> str:
        return "".join(random.choices(string.ascii_lowercase, k=n))
    return f"{letters(3)}-{letters(4)}-{letters(3)}"


class MeetingRun:
    """One meeting in the mock, with a bot from the appliance, for one user with a webhook."""

    def __init__(self, chaos: ChaosAppliance, control: httpx.Client, receiver: WebhookReceiver, email: str) -> None:
        self.chaos = chaos
        self.control = control
        self.receiver = receiver
        _, self.token = chaos.app.new_user(email)
        self.client = chaos.app.client(self.token)
        tolerant(lambda: answered(self.client.put("/user/webhook", json={"webhook_url": receiver.url}), 200))
        self.native = meet_code()
        self.meeting: dict[str, Any] = {}
        self.began = 0.0

    def close(self) -> None:
        self.client.close()

    @property
    def meeting_id(self) -> int:
        return int(self.meeting["id"])

    def mock(self, action: str = "", **body: Any) -> dict[str, Any]:
        path = f"/control/meetings/{self.native}" + (f"/{action}" if action else "")
        answer = self.control.post(path, json=body) if action else self.control.get(path)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def begin(self, variant: str = "join-now") -> None:
        created = self.control.post("/control/meetings", json={
            "id": self.native, "platform": "meet", "variant": variant, "participants": ["Alice", "Bob"]})
        assert created.status_code == 201, created.text
        body = {"platform": "google_meet", "native_meeting_id": self.native, "language": "en",
                "automatic_leave": QUICK_LEAVE}
        self.meeting = tolerant(lambda: answered(self.client.post("/bots", json=body), 201))
        self.began = time.monotonic()

    def shown(self) -> dict[str, Any]:
        self.meeting = tolerant(lambda: answered(self.client.get(f"/meetings/{self.meeting_id}"), 200))
        return self.meeting

    def wait_status(self, statuses: set[str], timeout_s: float = 90) -> dict[str, Any]:
        return wait_until(lambda: (m := self.shown())["status"] in statuses and m, timeout_s, 0.3,
                          f"meeting {self.meeting_id} to reach {sorted(statuses)}")

    def speak(self, name: str, text: str) -> None:
        """One turn, returned once the mock has played all of it into the meeting."""
        event = self.mock("speak", participant=name, text=text)
        seq = event["seq"]
        wait_until(lambda: any(e["seq"] == seq and e["played"] for e in self.mock()["speech"]),
                   event["duration_s"] + 20, 0.2, f"{name}'s turn to be played")

    def stored(self) -> list[dict[str, Any]]:
        path = f"/transcripts/google_meet/{self.native}?meeting_id={self.meeting_id}"
        return tolerant(lambda: answered(self.client.get(path), 200))["segments"]

    def ledger(self) -> dict[str, tuple[str, str | None]]:
        """What the ASR emitted for this meeting: segment id -> (text digest, outcome)."""
        if not self.chaos.spool_path.exists():
            return {}
        prefix = f"bot-{self.meeting_id}-"
        return {k: v for k, v in read_ledger(self.chaos.spool_path).items() if k.startswith(prefix)}

    def settled(self) -> bool:
        """Terminal, nothing owed by the ASR, no stream of it open, every expected event in."""
        meeting = self.shown()
        if meeting["status"] not in TERMINAL or self.chaos.asr_streams() != 0:
            return False
        if any(outcome is None for _, outcome in self.ledger().values()):
            return False
        received = {event_key(e) for e in self.receiver.of_meeting(self.meeting_id)}
        return expected_events(meeting) <= received


def event_key(event: dict[str, Any]) -> tuple[str, ...]:
    if event["event_type"] == "meeting.status_change":
        return (event["event_type"], str(event["data"]["previous_status"]), str(event["data"]["status"]))
    return (event["event_type"],)


def expected_events(meeting: dict[str, Any]) -> set[tuple[str, ...]]:
    """Every event the meeting's history owes: one per accepted move, then its end events."""
    moves = [t for t in meeting["data"]["status_transition"] if t["from"] is not None]
    wanted: set[tuple[str, ...]] = {("meeting.status_change", t["from"], t["to"]) for t in moves}
    if meeting["status"] in TERMINAL:
        wanted |= {(name,) for name in END_EVENTS}
    if meeting["status"] == "failed":
        wanted.add(("bot.failed",))
    return wanted


@dataclass
class Outcome:
    """What a run left behind, as a user would check it."""

    meeting_id: int
    status: str
    faults: list[Fault]
    segments_emitted: int = 0
    segments_lost: list[str] = field(default_factory=list)
    segments_duplicated: list[str] = field(default_factory=list)
    partials_left: list[str] = field(default_factory=list)
    events_expected: int = 0
    events_lost: list[str] = field(default_factory=list)
    event_id_problems: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    integrity: dict[str, str] = field(default_factory=dict)

    @property
    def recovered(self) -> bool:
        return (self.status in TERMINAL and not self.segments_lost and not self.segments_duplicated
                and not self.events_lost and not self.event_id_problems and not self.out_of_order
                and all(v == "ok" for v in self.integrity.values()))

    def problems(self) -> str:
        return json.dumps({
            "status": self.status, "faults": [f.describe() for f in self.faults],
            "segments_lost": self.segments_lost, "segments_duplicated": self.segments_duplicated,
            "events_lost": self.events_lost, "event_id_problems": self.event_id_problems,
            "out_of_order": self.out_of_order, "integrity": self.integrity,
        }, indent=1)


def integrity(data_dir: Path) -> dict[str, str]:
    """`PRAGMA integrity_check` of every SQLite file of the appliance."""
    results = {}
    for path in sorted(data_dir.glob("*.db")):
        db = sqlite3.connect(path)
        try:
            results[path.name] = "; ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
        finally:
            db.close()
    return results


def check(run: MeetingRun, faults: list[Fault]) -> Outcome:
    """Compare the stored transcript with the ASR's ledger, the received webhooks with the moves."""
    meeting = run.shown()
    outcome = Outcome(run.meeting_id, meeting["status"], faults)
    ledger = run.ledger()
    stored = run.stored()
    by_id = {s["segment_id"]: s for s in stored}
    outcome.segments_emitted = len(ledger)
    for segment_id, (digest, taken) in ledger.items():
        row = by_id.get(segment_id)
        if taken != "stored" or row is None or not row["completed"] or text_digest(row["text"]) != digest:
            outcome.segments_lost.append(f"{segment_id} ({taken}; stored: {row and row['text']!r})")
    completed = [s for s in stored if s["completed"]]
    outcome.segments_duplicated += [f"{s['segment_id']} {s['text']!r}: not emitted"
                                    for s in completed if s["segment_id"] not in ledger]
    outcome.segments_duplicated += _repeats(completed)
    outcome.partials_left = [f"{s['segment_id']} {s['text']!r}" for s in stored if not s["completed"]]

    received = run.receiver.of_meeting(run.meeting_id)
    wanted = expected_events(meeting)
    outcome.events_expected = len(wanted)
    keys = {event_key(e) for e in received}
    outcome.events_lost = sorted(" ".join(k) for k in wanted - keys)
    ids: dict[tuple[str, ...], set[str]] = {}
    for event in received:
        ids.setdefault(event_key(event), set()).add(event.get("event_id") or "")
    for key, seen in ids.items():
        if len(seen) != 1 or "" in seen:
            outcome.event_id_problems.append(f"{' '.join(key)}: ids {sorted(seen)}")
    if len({next(iter(v)) for v in ids.values()}) != len(ids):
        outcome.event_id_problems.append("two different events share an id")
    first_seen = list(dict.fromkeys(event_key(e) for e in received if e["event_type"] == "meeting.status_change"))
    moves = [("meeting.status_change", t["from"], t["to"]) for t in meeting["data"]["status_transition"] if t["from"]]
    if first_seen != [m for m in moves if m in first_seen]:
        outcome.out_of_order = [" ".join(k[1:]) for k in first_seen]
    outcome.integrity = integrity(run.chaos.data_dir)
    return outcome


def _repeats(completed: list[dict[str, Any]]) -> list[str]:
    """Completed segments saying the same words at the same moment (audio transcribed twice)."""
    seen: dict[tuple[str | None, str], list[float]] = {}
    repeats = []
    for s in sorted(completed, key=lambda s: s["start"]):
        key = (s["speaker"], " ".join(normalize(s["text"])))
        starts = seen.setdefault(key, [])
        if any(abs(s["start"] - other) < 2.0 for other in starts):
            repeats.append(f"{s['segment_id']} {s['text']!r}: said twice at {s['start']:.1f} s")
        starts.append(s["start"])
    return repeats


def settle(run: MeetingRun, faults: list[Fault], timeout_s: float = RECOVERY_TIMEOUT_S) -> Outcome:
    """Wait (up to `timeout_s`) until the run has settled, then check it."""
    with contextlib.suppress(AssertionError):  # an unsettled run is reported by the check
        wait_until(run.settled, timeout_s, 0.5, f"meeting {run.meeting_id} to settle")
    return check(run, faults)


@contextlib.contextmanager
def receiver_down(receiver: WebhookReceiver) -> Iterator[None]:
    receiver.stop()
    try:
        yield
    finally:
        receiver.start()
