"""Named fault points: places where a crash test can kill the process on purpose.

Inert in production. A point fires only when the process was started with
`VOMEET_FAULT_POINTS` naming it (comma-separated, `name` or `name:N` for the N-th time it is
reached) and `VOMEET_FAULT_STATE` naming a directory: firing writes `<name>.fired` there first,
so a restarted process (the supervisor restarts children with the same environment) runs past
the point instead of dying at it forever. Firing is `SIGKILL` on the process itself: no
`finally`, no atexit, no flush, exactly what `kill -9` does.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

# Every point the code declares, with where it sits. Tests and benchmarks/chaos.py pick from here.
FAULT_POINTS: dict[str, str] = {
    "lifecycle.before_commit": "a status move is built (status, facts, outbox events) but not committed",
    "lifecycle.after_commit": "a status move and its outbox events are committed, nothing relayed yet",
    "relay.after_commit": "the relay committed the webhook deliveries of an event, before queueing them",
    "relay.after_enqueue": "deliveries are queued, the in-process subscribers not yet told",
    "delivery.after_claim": "the worker claimed a delivery (sending) and has not posted it",
    "delivery.after_post": "the receiver answered, the worker has not recorded the outcome",
    "collector.after_commit": "a batch of segments is stored, subscribers not yet told",
    "asr.after_spool": "the ASR spooled a completed segment; neither the bot nor the appliance has it",
}

_lock = threading.Lock()
_hits: dict[str, int] = {}


def _armed() -> dict[str, int]:
    spec = os.environ.get("VOMEET_FAULT_POINTS", "")
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition(":")
        armed[name] = int(nth) if nth else 1
    return armed


def fault_point(name: str) -> None:
    """Kill this process here if a crash test armed `name` (and it has not fired before)."""
    if "VOMEET_FAULT_POINTS" not in os.environ:
        return
    if name not in FAULT_POINTS:
        raise ValueError(f"undeclared fault point {name!r}: add it to appliance.faults.FAULT_POINTS")
    nth = _armed().get(name)
    state = os.environ.get("VOMEET_FAULT_STATE")
    if nth is None or not state:
        return
    marker = Path(state) / f"{name}.fired"
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] != nth or marker.exists():
            return
        marker.write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)
