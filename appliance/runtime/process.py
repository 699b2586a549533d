"""The embedded bot runtime: each bot is a local child process running `vomeet bot`.

Handles look like `pid-<pid>-<start time in ms>` so that a recycled pid is never mistaken for
a bot after a restart. Each bot's output goes to `<logs>/bots/meeting-<id>.log`; its tail is
reported when the bot exits so that a failure carries the bot's own last words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import psutil

from appliance.bot_config import CONFIG_ENV, TOKEN_ENV
from appliance.log_files import read_tail
from appliance.process_command import self_command
from appliance.processes import live_process, signal_group
from appliance.runtime.base import BotExit, BotLaunch, ExitCallback

log = logging.getLogger(__name__)
TAIL_BYTES = 4000


def make_handle(pid: int) -> str:
    started_ms = int(psutil.Process(pid).create_time() * 1000)
    return f"pid-{pid}-{started_ms}"


def process_for(handle: str) -> psutil.Process | None:
    """The live process behind a handle, or None if it is gone (or the pid was reused)."""
    try:
        _, pid, started_ms = handle.split("-")
        pid_number, started = int(pid), int(started_ms)
    except ValueError:
        return None
    return live_process(pid_number, lambda created: int(created * 1000) == started)


class ProcessRuntime:
    kind = "process"

    def __init__(self, logs_dir: Path) -> None:
        self._logs_dir = logs_dir / "bots"
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        self._on_exit: ExitCallback | None = None
        self._handles: dict[int, str] = {}
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    def set_exit_callback(self, on_exit: ExitCallback) -> None:
        self._on_exit = on_exit

    async def _report_exit(self, exit_info: BotExit) -> None:
        if self._on_exit is not None:
            await self._on_exit(exit_info)

    def log_path(self, meeting_id: int) -> Path:
        return self._logs_dir / f"meeting-{meeting_id}.log"

    async def launch(self, launch: BotLaunch) -> str:
        env = dict(os.environ)
        env.update({TOKEN_ENV: launch.bot_token, CONFIG_ENV: launch.config.model_dump_json()})
        log_path = self.log_path(launch.meeting_id)
        with log_path.open("ab") as output:
            os.chmod(log_path, 0o600)
            process = await asyncio.create_subprocess_exec(
                *self_command(), "bot", "--meeting-id", str(launch.meeting_id),
                stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT,
                env=env,
                # Own session: a Ctrl+C meant for the supervisor must not reach bots directly;
                # the runtime stops them in order.
                start_new_session=True,
            )
        handle = make_handle(process.pid)
        self._handles[launch.meeting_id] = handle
        self._children[handle] = process
        self._watch(launch.meeting_id, handle, self._wait_child(process))
        log.info("bot for meeting %s started as %s", launch.meeting_id, handle)
        return handle

    async def _wait_child(self, process: asyncio.subprocess.Process) -> int | None:
        return await process.wait()

    async def _wait_adopted(self, process: psutil.Process) -> int | None:
        await asyncio.to_thread(process.wait)
        return None  # not our child: the exit code is not ours to read

    def _watch(
        self, meeting_id: int, handle: str, waiting: Coroutine[Any, Any, int | None]
    ) -> None:
        async def watch() -> None:
            exit_code = await waiting
            self._children.pop(handle, None)
            if self._handles.get(meeting_id) == handle:
                del self._handles[meeting_id]
            tail = read_tail(self.log_path(meeting_id), TAIL_BYTES).strip()
            log.info("bot for meeting %s (%s) exited with %s", meeting_id, handle, exit_code)
            await self._report_exit(BotExit(meeting_id, handle, exit_code, tail))

        task = asyncio.create_task(watch(), name=f"bot-watch-{meeting_id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def adopt(self, meeting_id: int, handle: str) -> None:
        process = process_for(handle)
        if process is None:
            await self._report_exit(
                BotExit(meeting_id, handle, None, read_tail(self.log_path(meeting_id), TAIL_BYTES).strip())
            )
            return
        self._handles[meeting_id] = handle
        self._watch(meeting_id, handle, self._wait_adopted(process))

    def is_alive(self, handle: str) -> bool:
        return process_for(handle) is not None

    def running(self) -> dict[int, str]:
        return dict(self._handles)

    async def stop(self, handle: str, grace_s: float) -> None:
        process = process_for(handle)
        if process is None:
            return
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
        # Our own child is awaited through asyncio: reaping it with psutil would steal its exit
        # status from asyncio's child watcher (which then reports 255). Adopted bots are not
        # our children and can only be polled.
        child = self._children.get(handle)
        waiting = child.wait() if child is not None else asyncio.to_thread(process.wait)
        try:
            await asyncio.wait_for(waiting, grace_s)
        except (TimeoutError, psutil.Error):
            log.warning("bot %s did not leave within %g s; killing it", handle, grace_s)
            # The bot's browser runs in the bot's session: take the whole group down.
            signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                process.kill()

    async def shutdown(self, grace_s: float) -> None:
        handles = list(self._handles.values())
        await asyncio.gather(*(self.stop(handle, grace_s) for handle in handles))
        if self._watchers:
            await asyncio.wait(set(self._watchers), timeout=grace_s)
