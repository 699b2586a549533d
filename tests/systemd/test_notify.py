"""`vomeet serve` as a Type=notify service, against a real notify socket: READY=1 only once the
database is migrated and the API answers /readyz ready with its children up, WATCHDOG=1 on time,
STATUS= saying what the box is doing, STOPPING=1 on SIGTERM; and the watchdog stops when the
supervisor's event loop is blocked (a hung supervisor), so systemd restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from appliance.config import Settings
from appliance.db import migrate
from appliance.sd_notify import Notifier
from appliance.service_manager import Reporter, cancel
from tests.conftest import Appliance, HangingMeetingHost, wait_until
from tests.runtime.conftest import Reaper, children, pid_of
from tests.systemd.conftest import NotifySocket

pytestmark = pytest.mark.slow
WATCHDOG_USEC = 1_000_000  # a ping every 0.5 s


def test_ready_watchdog_status_and_stopping(
    make_appliance, notify_socket: NotifySocket, hanging_host: HangingMeetingHost, reaper: Reaper
) -> None:
    app: Appliance = make_appliance(google_meet_base_url=hanging_host.base_url)
    app.env.update(NOTIFY_SOCKET=notify_socket.address, WATCHDOG_USEC=str(WATCHDOG_USEC))
    app.start()

    ready = wait_until(lambda: notify_socket.with_field("READY"), 60, what="READY=1")[0]
    # What READY promised holds the moment it arrived: migrated, ready, children running.
    with sqlite3.connect(app.data_dir / "vomeet.db") as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == migrate.head_revision(Settings(data_dir=app.data_dir))
    with app.client() as client:
        assert client.get("/readyz").status_code == 200
    assert {name: c["state"] for name, c in children(app).items()} == {"worker": "running"}
    assert ready.fields["STATUS"].startswith("ready: 0 bots live")
    assert len(notify_socket.with_field("READY")) == 1
    # Children never see the notify socket (only the main process may speak to systemd).
    worker = children(app)["worker"]["pid"]
    assert b"NOTIFY_SOCKET=" not in Path(f"/proc/{worker}/environ").read_bytes()

    # The watchdog keeps coming, every half WatchdogSec.
    before = len(notify_socket.with_field("WATCHDOG"))
    wait_until(lambda: len(notify_socket.with_field("WATCHDOG")) >= before + 4, 10, what="4 more WATCHDOG=1")
    pings = [n.at for n in notify_socket.with_field("WATCHDOG")]
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < WATCHDOG_USEC / 1e6

    # STATUS follows the box: a bot joining shows up.
    _, token = app.new_user("notify@example.com")
    with app.client(token) as client:
        answer = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "ntf-yabc-def"})
        assert answer.status_code == 201, answer.text
        reaper.track(pid_of(answer.json()["bot_container_id"]))
    wait_until(lambda: any(s.startswith("ready: 1 bot live") for s in notify_socket.statuses()), 30,
               what="STATUS to count the live bot")

    assert app.stop() == 0
    stopping = notify_socket.with_field("STOPPING")
    assert len(stopping) == 1 and stopping[0].fields["STATUS"] == "stopping: 1 bot leaving"
    # Nothing claims readiness after the stop order.
    assert not [n for n in notify_socket.with_field("READY") if n.at > stopping[0].at]


def test_sighup_reloads_live_settings_and_restarts_nothing(
    make_appliance, notify_socket: NotifySocket, tmp_path: Path
) -> None:
    toml = tmp_path / "vomeet.toml"
    toml.write_text('log_level = "info"\n')
    app: Appliance = make_appliance(config_file=str(toml))
    app.env.update(NOTIFY_SOCKET=notify_socket.address)
    app.start()
    wait_until(lambda: notify_socket.with_field("READY"), 60, what="READY=1")
    worker = children(app)["worker"]["pid"]

    toml.write_text('log_level = "debug"\n')
    assert app.process is not None
    sent_at = time.monotonic()
    app.process.send_signal(signal.SIGHUP)

    reloaded = wait_until(lambda: [n for n in notify_socket.with_field("READY") if n.at > sent_at], 30,
                          what="READY=1 after the reload")[0]
    reloading = [n for n in notify_socket.with_field("RELOADING") if n.at > sent_at]
    assert len(reloading) == 1 and reloading[0].at <= reloaded.at
    # MONOTONIC_USEC is CLOCK_MONOTONIC when the reload began (what systemd >= 253 matches).
    assert abs(int(reloading[0].fields["MONOTONIC_USEC"]) - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 30e6
    assert reloaded.fields["STATUS"].startswith("reloaded (log_level applied)")
    assert children(app)["worker"]["pid"] == worker  # nothing restarted
    assert app.process.poll() is None
    with app.client() as client:
        assert client.get("/readyz").status_code == 200
    assert "applied: log_level" in app.log_path.read_text(errors="replace")


def test_watchdog_stops_while_the_event_loop_is_blocked(notify_socket: NotifySocket, tmp_path: Path) -> None:
    """The supervisor's own loop sends WATCHDOG=1 (appliance.service_manager.Reporter.watchdog):
    a call that blocks the loop, as a hung supervisor would, stops the pings until it returns."""
    notifier = Notifier(notify_socket.address, watchdog_usec=200_000)  # a ping every 0.1 s
    reporter = Reporter(notifier, Settings(data_dir=tmp_path), lambda: True)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stop = asyncio.Event()

    async def watchdog_until_stopped() -> None:
        task = asyncio.create_task(reporter.watchdog())
        await stop.wait()
        await cancel(task)

    running = asyncio.run_coroutine_threadsafe(watchdog_until_stopped(), loop)
    try:
        wait_until(lambda: len(notify_socket.with_field("WATCHDOG")) >= 5, 10, what="the first pings")
        blocked_from = time.monotonic()
        done = threading.Event()
        def hang() -> None:  # the hang itself, on the loop's thread
            time.sleep(1.5)
            done.set()

        loop.call_soon_threadsafe(hang)
        assert done.wait(10)
        blocked_until = time.monotonic()
        wait_until(lambda: [n for n in notify_socket.with_field("WATCHDOG") if n.at > blocked_until], 5,
                   what="the pings to resume once the loop runs again")
        during = [n for n in notify_socket.with_field("WATCHDOG") if blocked_from + 0.2 < n.at < blocked_until - 0.05]
        assert during == [], "WATCHDOG=1 was sent while the loop was blocked"
    finally:
        loop.call_soon_threadsafe(stop.set)
        running.result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        notifier.close()


def test_abstract_socket_and_no_socket() -> None:
    """NOTIFY_SOCKET='@name' is an abstract socket; without NOTIFY_SOCKET nothing is sent."""
    name = f"vomeet-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    listener = NotifySocket("@" + name, sock)
    try:
        os.environ.update(NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="4000000", WATCHDOG_PID=str(os.getpid()))
        notifier = Notifier.from_environment()
        assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ
        assert notifier.watchdog_interval_s == 2.0
        assert notifier.status("line one\nWATCHDOG=1")  # a newline cannot smuggle a field
        got = wait_until(lambda: listener.received, 5, what="the status")[0]
        assert got.fields == {"STATUS": "line one WATCHDOG=1"}
        notifier.close()
        # WATCHDOG_PID naming another process: the watchdog is not ours.
        os.environ.update(NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="4000000", WATCHDOG_PID="1")
        assert Notifier.from_environment().watchdog_interval_s is None
        silent = Notifier.from_environment()  # the variables are gone now
        assert not silent.enabled and silent.ready("ready") is False
    finally:
        for name_ in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(name_, None)
        listener.close()
