"""`vomeet serve`: the API in-process, its helper processes as watched children.

Children start in order and stop in reverse order. A child that dies is restarted after a
growing delay; one that dies more than `child_restart_limit` times within
`child_restart_window_s` is given up on and reported as failed rather than restarted forever.
The children's state is kept in memory for /admin/system and mirrored to `run/children.json`,
from which a supervisor restarted after a crash adopts the children that outlived its predecessor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

import psutil
import uvicorn

from appliance.config import Settings
from appliance.process_command import self_command
from appliance.processes import live_process, signal_group
from appliance.sd_notify import Notifier
from appliance.service_manager import BotLaunchGate, Reporter, cancel, reload_settings, wait_for_asr_drain
from appliance.tls.serving import ServedCertificate
from asr.backoff import growing_delay_s

if TYPE_CHECKING:
    from appliance.api.app import AppMount
    from appliance.discovery.service import DiscoveryRun

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 15.0


def _within_a_second(recorded: float, created: float) -> bool:
    return abs(created - recorded) <= 1


class ChildState(StrEnum):
    """A supervised child's state, as /admin/system, /metrics and children.json report it."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"  # exited; restarted after a delay
    FAILED = "failed"  # restarted too often within the window; left down
    STOPPED = "stopped"


@dataclass
class ChildSpec:
    name: str
    args: list[str]


class Running:
    """A child process: one this supervisor started, or one adopted from a crashed predecessor."""

    def __init__(self, own: asyncio.subprocess.Process | None = None, adopted: psutil.Process | None = None) -> None:
        self._own = own
        self._adopted = adopted
        if own is not None:
            self.pid: int = own.pid
        else:
            assert adopted is not None, "a child is either started here or adopted"
            self.pid = adopted.pid

    @property
    def alive(self) -> bool:
        if self._own is not None:
            return self._own.returncode is None
        assert self._adopted is not None
        running: bool = self._adopted.is_running() and self._adopted.status() != psutil.STATUS_ZOMBIE  # psutil: untyped
        return running

    async def wait(self) -> int | None:
        if self._own is not None:
            return await self._own.wait()
        assert self._adopted is not None
        with contextlib.suppress(psutil.Error):
            await asyncio.to_thread(self._adopted.wait)
        return None  # not our child: its exit status is not ours to read

    def signal_group(self, sig: signal.Signals) -> None:
        signal_group(self.pid, sig)


@dataclass
class Child:
    spec: ChildSpec
    process: Running | None = None
    state: ChildState = ChildState.STARTING
    restarts: int = 0
    adopted: bool = False
    recent_exits: deque[float] = field(default_factory=deque)
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    started_at: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "state": self.state.value,
            "pid": self.process.pid if self.process and self.process.alive else None,
            "adopted": self.adopted,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "last_exit_at": self.last_exit_at,
            "started_at": self.started_at,
        }


class Supervisor:
    def __init__(self, settings: Settings, specs: list[ChildSpec]) -> None:
        self.settings = settings
        self.children = [Child(spec) for spec in specs]
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []

    def status(self) -> list[dict[str, Any]]:
        return [child.describe() for child in self.children]

    def _publish(self) -> None:
        path = self.settings.state_dir / "children.json"
        path.write_text(json.dumps(self.status(), indent=2), encoding="utf-8")

    def _survivors(self) -> dict[str, psutil.Process]:
        """Children a previous supervisor left running when it died (kill -9, OOM)."""
        try:
            previous = json.loads((self.settings.state_dir / "children.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        found = {}
        for entry in previous:
            pid, started = entry.get("pid"), entry.get("started_at")
            if not pid or not started:
                continue
            process = live_process(pid, partial(_within_a_second, float(started)))
            if process is not None:  # else gone, or the pid now belongs to someone else
                found[entry["name"]] = process
        return found

    async def start(self) -> None:
        """Start every child, adopting one that survived a crash of the previous supervisor:
        a surviving ASR server keeps its streams and the segments it still has to deliver,
        a surviving worker its tasks; starting a second one would fight it for its port or queue."""
        survivors = self._survivors()
        for child in self.children:
            survivor = survivors.get(child.spec.name)
            if survivor is not None:
                child.process, child.adopted = Running(adopted=survivor), True
                child.state, child.started_at = ChildState.RUNNING, survivor.create_time()
                log.warning("adopted %s (pid %s) left running by the previous run", child.spec.name, survivor.pid)
                self._publish()
            else:
                await self._spawn(child)
            self._watchers.append(asyncio.create_task(self._watch(child), name=f"watch-{child.spec.name}"))

    async def _spawn(self, child: Child) -> None:
        log_path = self.settings.logs_dir / f"{child.spec.name}.log"
        with log_path.open("ab") as output:
            process = await asyncio.create_subprocess_exec(
                *self_command(), *child.spec.args,
                stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # signals reach children only through the supervisor
            )
        child.process, child.adopted = Running(own=process), False
        child.state = ChildState.RUNNING
        child.started_at = psutil.Process(process.pid).create_time()
        log.info("started %s (pid %s), output in %s", child.spec.name, process.pid, log_path)
        self._publish()

    def _backoff_s(self, child: Child) -> float:
        retry = max(0, len(child.recent_exits) - 1)
        return growing_delay_s(0.5, 2.0, retry, cap_s=self.settings.child_backoff_max_s)

    async def _watch(self, child: Child) -> None:
        while True:
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping:
                return
            now = time.time()
            child.last_exit_code, child.last_exit_at = code, now
            child.recent_exits.append(now)
            while child.recent_exits and now - child.recent_exits[0] > self.settings.child_restart_window_s:
                child.recent_exits.popleft()
            if len(child.recent_exits) > self.settings.child_restart_limit:
                child.state = ChildState.FAILED
                log.error(
                    "%s exited with %s and has crashed %d times in %.0f s; not restarting it. "
                    "See %s and restart the appliance once fixed.",
                    child.spec.name, code, len(child.recent_exits),
                    self.settings.child_restart_window_s,
                    self.settings.logs_dir / f"{child.spec.name}.log",
                )
                self._publish()
                return
            delay = self._backoff_s(child)
            child.state = ChildState.BACKOFF
            self._publish()
            log.warning("%s exited with %s; restarting it in %.1f s", child.spec.name, code, delay)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            child.restarts += 1
            await self._spawn(child)

    async def stop(self) -> None:
        """Stop children in reverse start order: SIGTERM, then SIGKILL after a timeout."""
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        for child in reversed(self.children):
            process = child.process
            if process is None or not process.alive:
                child.state = ChildState.STOPPED
                continue
            log.info("stopping %s (pid %s)", child.spec.name, process.pid)
            process.signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("%s did not stop within %.0f s; killing it", child.spec.name, STOP_TIMEOUT_S)
                process.signal_group(signal.SIGKILL)
                await process.wait()
            child.state = ChildState.STOPPED
        self._publish()


class _Server(uvicorn.Server):
    """uvicorn, minus its own signal handling: the supervisor decides the shutdown order.

    With TLS on, a companion serves the same app in plain HTTP on loopback (the box's own bots,
    worker and commands dial it): it starts once this server is up and the app's start-up has
    run, and stops before this server's own shutdown, so it never outlives the app's lifespan.
    """

    companion: tuple[uvicorn.Server, socket.socket] | None = None
    _companion_task: asyncio.Task[None] | None = None
    discovery: DiscoveryRun | None = None  # mDNS: announced once listening, withdrawn before closing

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.companion is not None and self.started:
            companion, listener = self.companion
            self._companion_task = asyncio.create_task(companion.serve([listener]), name="loopback-http")
        if self.discovery is not None and self.started:
            self.discovery.begin()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.discovery is not None:
            await self.discovery.end()  # goodbye packets while the port still answers
        if self.companion is not None and self._companion_task is not None:
            self.companion[0].should_exit = True
            try:
                await self._companion_task
            except Exception:  # its failure must not skip the app's own shutdown
                log.exception("the plain-HTTP loopback listener failed")
        reaper = asyncio.create_task(self._cut_pending_tls_goodbyes(), name="tls-goodbyes")
        try:
            await super().shutdown(sockets)
        finally:
            reaper.cancel()

    async def _cut_pending_tls_goodbyes(self) -> None:
        """An idle HTTPS keep-alive connection, told to close, waits up to 30 s (asyncio's
        ssl_shutdown_timeout, which uvicorn gives no way to set) for the peer's TLS goodbye, and
        an idle client never sends one: the stop would wait with it. A connection that is closing
        with nothing left to write has only that goodbye pending, so it is cut."""
        while True:
            await asyncio.sleep(0.2)
            for connection in list(self.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None and transport.is_closing() and not transport.get_write_buffer_size():
                    transport.abort()


def _loopback_companion(app: Any, settings: Settings) -> tuple[uvicorn.Server, socket.socket]:
    """The plain-HTTP loopback listener, bound now so that a taken port fails the start at once."""
    # Made for IPPROTO_TCP, as uvicorn's own listeners are: asyncio sets TCP_NODELAY only on such
    # sockets, and without it each kept-alive request waits ~40 ms for a delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", settings.loopback_port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        log.error("cannot listen on 127.0.0.1:%s (%s). Fix: free the port or set VOMEET_LOOPBACK_PORT.",
                  settings.loopback_port, exc.strerror)
        sys.exit(1)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=settings.loopback_port, log_level=settings.log_level,
        access_log=settings.log_level == "debug", lifespan="off", log_config=None,
    )
    return _Server(config), listener


async def run(settings: Settings, specs: list[ChildSpec], mounts: Sequence[AppMount] = ()) -> None:
    from appliance.api.app import create_app

    # Taken out of the environment before any child starts: only this process speaks to systemd.
    notifier = Notifier.from_environment()
    app = create_app(settings, mounts)
    supervisor = Supervisor(settings, specs)
    app.state.supervisor = supervisor
    gate = BotLaunchGate(app)
    served = ServedCertificate(settings) if settings.tls_enabled else None
    config = uvicorn.Config(
        gate, host=settings.host, port=settings.port, log_level=settings.log_level,
        access_log=settings.log_level == "debug", lifespan="on",
        # No handlers of uvicorn's own: its access and WebSocket lines (which carry URLs, so
        # `?api_key=`) go to the root handler, whose formatter masks secrets.
        log_config=None,
        # The LAN port speaks HTTPS only; the context is kept so a rotation can reload it in place.
        ssl_context_factory=None if served is None else lambda _config, _default: served.context,
    )
    server = _Server(config)
    if served is not None:
        server.companion = _loopback_companion(gate, settings)
    from appliance.discovery.service import DiscoveryRun

    # Clients seen on the LAN go to the device registry (appliance/devices), which the app's
    # start-up has made by the time mDNS begins.
    server.discovery = DiscoveryRun(settings, lambda: app.state.services.devices.sightings)
    reporter = Reporter(
        notifier, settings, lambda: all(child.state == ChildState.RUNNING for child in supervisor.children)
    )
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    applied = [settings]  # the settings the last reload compared against

    def reload() -> None:
        """SIGHUP (systemctl reload): settings that can change live; no child or bot restarts."""
        if reporter.stopping:
            return
        notifier.reloading("reloading settings")
        applied[0], outcome = reload_settings(applied[0])
        if reporter.ready_sent:
            notifier.ready(f"{outcome}; {reporter.last_status}")
        else:  # still starting: READY=1 comes when the start-up conditions hold, not before
            notifier.status(f"{outcome}; {reporter.last_status}")

    loop.add_signal_handler(signal.SIGHUP, reload)

    async def shut_down_when_asked() -> None:
        await stop_requested.wait()
        gate.closed = True  # no new bot from here on
        services = getattr(app.state, "services", None)
        live = len(services.runtime.running()) if services is not None else 0
        reporter.stop(f"stopping: {live} bot{'' if live == 1 else 's'} leaving")
        log.info("shutting down: bots leave first, while the API still takes their reports")
        if services is not None:
            await services.meetings.stop_all("the appliance is shutting down")
        if any(child.spec.name == "asr" and child.state == ChildState.RUNNING for child in supervisor.children):
            notifier.status("stopping: the ASR delivers the bots' last segments")
            await wait_for_asr_drain(settings)
        notifier.status("stopping: API, ASR and worker")
        server.should_exit = True

    await supervisor.start()
    tasks = [
        asyncio.create_task(shut_down_when_asked(), name="shutdown"),
        asyncio.create_task(reporter.watch_status(), name="systemd-status"),
        asyncio.create_task(reporter.watchdog(), name="systemd-watchdog"),
    ]
    if served is not None:
        tasks.append(asyncio.create_task(served.watch(), name="tls-certificate"))
    try:
        await server.serve()
    finally:
        await cancel(*tasks)
        await supervisor.stop()
        notifier.close()
