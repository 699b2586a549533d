"""`vomeet serve` as a supervisor: restarts a crashed child, gives up on one that keeps
crashing, and stops its children before exiting on SIGTERM."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import wait_until
from tests.runtime.conftest import Reaper, children, is_running

pytestmark = pytest.mark.slow


def test_worker_killed_is_restarted(make_appliance, reaper: Reaper) -> None:
    app = make_appliance().start()
    first = wait_until(lambda: children(app)["worker"]["pid"], 30, what="the worker to start")
    reaper.track(first)
    assert children(app)["worker"]["state"] == "running"

    os.kill(first, signal.SIGKILL)

    def restarted() -> dict | None:
        worker = children(app)["worker"]
        ready = worker["pid"] not in (None, first) and worker["state"] == "running"
        return worker if ready else None

    worker = wait_until(restarted, 30, what="the worker to be restarted with a new pid")
    reaper.track(worker["pid"])
    assert worker["restarts"] == 1
    assert worker["last_exit_code"] == -signal.SIGKILL
    assert is_running(worker["pid"])
    assert not is_running(first)


def test_child_that_keeps_crashing_is_given_up(make_appliance, reaper: Reaper) -> None:
    app = make_appliance(child_restart_limit="1").start()
    first = reaper.track(wait_until(lambda: children(app)["worker"]["pid"], 30, what="the worker"))
    os.kill(first, signal.SIGKILL)
    second = wait_until(
        lambda: (w := children(app)["worker"])["state"] == "running" and w["pid"] not in (None, first) and w["pid"],
        30, what="the first restart",
    )
    reaper.track(second)

    os.kill(second, signal.SIGKILL)

    worker = wait_until(
        lambda: (w := children(app)["worker"])["state"] == "failed" and w, 30,
        what="the worker to be reported failed",
    )
    assert worker["pid"] is None
    assert worker["restarts"] == 1  # restarted once (the limit), not a second time
    assert worker["last_exit_code"] == -signal.SIGKILL
    # The API itself keeps serving, and readiness does not trust the worker's last heartbeat.
    with app.client() as client:
        assert client.get("/healthz").status_code == 200
        worker_check = client.get("/readyz").json()["checks"]["worker"]
    assert worker_check["ok"] is False and "given up" in worker_check["detail"]
    assert "not restarting" in app.log_path.read_text(errors="replace")


def test_sigterm_stops_children_and_exits_zero(make_appliance, reaper: Reaper) -> None:
    app = make_appliance().start()
    pids = wait_until(
        lambda: {n: c["pid"] for n, c in children(app).items() if c["pid"]} or None, 30,
        what="the children to start",
    )
    assert set(pids) == {"worker"}  # ASR is disabled in tests
    for pid in pids.values():
        reaper.track(pid)
        assert is_running(pid)

    assert app.stop() == 0

    for name, pid in pids.items():
        assert not is_running(pid), f"{name} (pid {pid}) outlived the supervisor"
    assert "stopping worker" in app.log_path.read_text(errors="replace")


def test_children_surviving_a_crash_are_adopted_not_duplicated(make_appliance, reaper: Reaper) -> None:
    app = make_appliance().start()
    survivor = reaper.track(wait_until(lambda: children(app)["worker"]["pid"], 30, what="the worker"))
    app.kill()  # kill -9: the worker, in its own session, outlives the supervisor
    assert is_running(survivor)

    app.start()

    worker = wait_until(lambda: (w := children(app)["worker"])["state"] == "running" and w, 30, what="the worker")
    assert worker["pid"] == survivor and worker["adopted"] is True, "one worker, the surviving one"
    assert f"adopted worker (pid {survivor})" in app.log_path.read_text(errors="replace")

    # An adopted child is supervised like any other: when it dies, a new one is started.
    os.kill(survivor, signal.SIGKILL)
    replaced = wait_until(
        lambda: (w := children(app)["worker"])["pid"] not in (None, survivor) and w, 30, what="a replacement worker"
    )
    reaper.track(replaced["pid"])
    assert replaced["adopted"] is False and replaced["restarts"] == 1
