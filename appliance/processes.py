"""Process identity and group kill, shared by the supervisor (its children, adopted after a
crash) and the process bot runtime (its bots): a pid alone is not an identity, since the kernel
recycles pids, so a process is known by its pid and its start time, and is taken down with its
whole process group (a bot's Chromium, an ASR's helpers)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable

import psutil


def live_process(pid: int, started: Callable[[float], bool]) -> psutil.Process | None:
    """The running process `pid`, if its start time (`create_time`, Unix seconds) is the one
    recorded (`started` says so); None when it is gone, a zombie, or the pid was reused."""
    try:
        process = psutil.Process(pid)
        if not started(process.create_time()) or process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except (ValueError, psutil.Error):  # ValueError: a negative pid
        return None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group that `pid` leads (children started with
    `start_new_session`); a group already gone, or not ours, is left alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
