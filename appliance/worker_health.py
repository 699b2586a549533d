"""The task worker's heartbeat: a file it touches, read by /readyz and `vomeet doctor`."""

from __future__ import annotations

import time

from appliance.config import Settings

HEARTBEAT_FILE = "worker.heartbeat"


def touch_heartbeat(settings: Settings) -> None:
    path = settings.state_dir / HEARTBEAT_FILE
    path.write_text(str(time.time()), encoding="utf-8")


def worker_heartbeat_age_s(settings: Settings) -> float | None:
    try:
        beat = float((settings.state_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return max(0.0, time.time() - beat)
