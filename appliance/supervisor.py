"""`vomeet serve`: the API in-process, its helper processes as watched children.

Children start in order and stop in reverse order. A child that dies is restarted after a
growing delay; one that dies more than `child_restart_limit` times within
`child_restart_window_s` is given up on and reported as failed rather than restarted forever.
The children's state is kept in memory for /admin/system and mirrored to `run/children.json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
import uvicorn

from appliance.config import Settings
from appliance.process_command import self_command

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 15.0


@dataclass
class ChildSpec:
    name: str
    args: list[str]


@dataclass
class Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    state: str = "starting"  # starting, running, backoff, failed, stopped
    restarts: int = 0
    recent_exits: deque[float] = field(default_factory=deque)
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    started_at: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "state": self.state,
            "pid": self.process.pid if self.process and self.process.returncode is None else None,
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

    def reap_orphans(self) -> None:
        """Kill children left running by a previous supervisor that died without stopping them
        (kill -9, OOM): two workers on one queue, or two ASR servers on one port, must not be."""
        try:
            previous = json.loads((self.settings.state_dir / "children.json").read_text("utf-8"))
        except (OSError, ValueError):
            return
        for entry in previous:
            pid, started = entry.get("pid"), entry.get("started_at")
            if not pid or not started:
                continue
            try:
                process = psutil.Process(pid)
                if abs(process.create_time() - started) > 2:
                    continue  # the pid now belongs to someone else
                log.warning("stopping %s (pid %s) left over from a previous run", entry["name"], pid)
                os.killpg(pid, signal.SIGKILL)
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue

    async def start(self) -> None:
        self.reap_orphans()
        for child in self.children:
            await self._spawn(child)
            self._watchers.append(asyncio.create_task(self._watch(child), name=f"watch-{child.spec.name}"))

    async def _spawn(self, child: Child) -> None:
        log_path = self.settings.logs_dir / f"{child.spec.name}.log"
        with log_path.open("ab") as output:
            child.process = await asyncio.create_subprocess_exec(
                *self_command(), *child.spec.args,
                stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # signals reach children only through the supervisor
            )
        child.state = "running"
        child.started_at = psutil.Process(child.process.pid).create_time()
        log.info("started %s (pid %s), output in %s", child.spec.name, child.process.pid, log_path)
        self._publish()

    def _backoff_s(self, child: Child) -> float:
        return min(self.settings.child_backoff_max_s, 0.5 * 2 ** max(0, len(child.recent_exits) - 1))

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
                child.state = "failed"
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
            child.state = "backoff"
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
            if process is None or process.returncode is not None:
                child.state = "stopped"
                continue
            log.info("stopping %s (pid %s)", child.spec.name, process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("%s did not stop within %.0f s; killing it", child.spec.name, STOP_TIMEOUT_S)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            child.state = "stopped"
        self._publish()


class _Server(uvicorn.Server):
    """uvicorn, minus its own signal handling: the supervisor decides the shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run(settings: Settings, specs: list[ChildSpec]) -> None:
    from appliance.api.app import create_app

    app = create_app(settings)
    supervisor = Supervisor(settings, specs)
    app.state.supervisor = supervisor
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level,
        access_log=settings.log_level == "debug", lifespan="on",
    )
    server = _Server(config)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)

    async def shut_down_when_asked() -> None:
        await stop_requested.wait()
        log.info("shutting down: bots leave first, while the API still takes their reports")
        services = getattr(app.state, "services", None)
        if services is not None:
            await services.meetings.stop_all("the appliance is shutting down")
        server.should_exit = True

    await supervisor.start()
    shutdown = asyncio.create_task(shut_down_when_asked())
    try:
        await server.serve()
    finally:
        shutdown.cancel()
        await supervisor.stop()
