"""Helpers for tests that start, kill and restart real processes (supervisor, children, bots).

Every process a test may leave behind (a bot that outlived a kill -9 of `vomeet serve`, an
orphaned worker) is recorded in `reaper` and killed, with its whole process group, at teardown,
so that no Chromium survives a failing test.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from appliance.runtime.process import process_for  # noqa: F401 (used by the runtime tests)
from tests.conftest import Appliance, HangingMeetingHost, wait_until

MEET_ID = "abc-defg-hij"
TERMINAL = {"completed", "failed"}


def pid_of(handle: str) -> int:
    """The pid in a process-runtime handle `pid-<pid>-<start ms>`."""
    kind, pid, _ = handle.split("-")
    assert kind == "pid", handle
    return int(pid)




def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes in process group `pgid` (a bot, its Playwright driver and Chromium)."""
    members = []
    for process in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                members.append(process)
    return members


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def is_running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Reaper:
    """Process groups to kill at teardown, whatever the test's outcome."""

    def __init__(self) -> None:
        self.groups: set[int] = set()

    def track(self, pid: int) -> int:
        self.groups.add(pid)
        return pid

    def reap(self) -> None:
        for pgid in self.groups:
            kill_group(pgid)
        for pgid in self.groups:
            wait_until(lambda pgid=pgid: not group_members(pgid), 15, what=f"process group {pgid} to end")


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    reaper = Reaper()
    yield reaper
    reaper.reap()


@pytest.fixture
def meeting_host() -> Iterator[HangingMeetingHost]:
    """A meeting host of the test's own: its connection count shows when a bot's page is loading."""
    host = HangingMeetingHost()
    yield host
    host.close()


def children(app: Appliance) -> dict[str, dict[str, Any]]:
    """The supervisor's children by name, from GET /admin/system."""
    with app.admin() as admin:
        answer = admin.get("/admin/system")
    assert answer.status_code == 200, answer.text
    return {child["name"]: child for child in answer.json()["children"]}


def running_bots(app: Appliance) -> dict[str, str]:
    with app.admin() as admin:
        answer = admin.get("/admin/system")
    assert answer.status_code == 200, answer.text
    return answer.json()["running_bots"]


def get_meeting(client: httpx.Client, meeting_id: int) -> dict[str, Any]:
    answer = client.get(f"/meetings/{meeting_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for_status(
    client: httpx.Client, meeting_id: int, statuses: set[str] | str, timeout_s: float = 60
) -> dict[str, Any]:
    wanted = {statuses} if isinstance(statuses, str) else statuses
    seen: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        seen.update(get_meeting(client, meeting_id))
        return dict(seen) if seen["status"] in wanted else None

    try:
        return wait_until(reached, timeout_s, 0.1, what=f"meeting {meeting_id} to reach {sorted(wanted)}")
    except AssertionError as exc:
        moves = seen.get("data", {}).get("status_transition")
        raise AssertionError(f"{exc}; last seen: {seen.get('status')} {moves}") from None


def launch_joining_bot(
    app: Appliance, client: httpx.Client, host: HangingMeetingHost, reaper: Reaper,
    native_meeting_id: str = MEET_ID,
) -> tuple[dict[str, Any], int]:
    """POST /bots for a Meet meeting served by `host`; returns once the bot's Chromium is
    loading the meeting page (the host holds its connection), with the bot's pid."""
    held_before = len(host._held)
    answer = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": native_meeting_id})
    assert answer.status_code == 201, answer.text
    meeting = answer.json()
    handle = meeting["bot_container_id"]
    assert handle and handle.startswith("pid-"), meeting
    pid = reaper.track(pid_of(handle))
    wait_for_status(client, meeting["id"], "joining")
    wait_until(lambda: len(host._held) > held_before, 60, what="the bot's Chromium to open the meeting page")
    return meeting, pid


def last_transition(meeting: dict[str, Any]) -> dict[str, Any]:
    return meeting["data"]["status_transition"][-1]


def crash(app: Appliance, reaper: Reaper) -> dict[str, int]:
    """kill -9 of `vomeet serve`. Its supervised children live in their own sessions, so they
    would outlive it here; systemd (KillMode=control-group) kills them with the service, and so
    do we. Bots are left alone: surviving bots are what reconciliation must handle."""
    pids = {name: child["pid"] for name, child in children(app).items() if child["pid"]}
    app.kill()
    for pid in pids.values():
        kill_group(reaper.track(pid))
    return pids

