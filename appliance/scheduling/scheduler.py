"""The scheduling loop of the API process: sweep, sleep until the next bot is due (at most
15 s), sweep again; woken early when a scheduled meeting is made or moved.

It runs where bots are started (MeetingService and its runtime live in the API process, which
watches each bot's exit and counts the box's capacity), not in the Huey worker. The truth is
in SQLite, so a restart loses nothing: the first sweep after start-up does what was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from appliance.db.models import utcnow
from appliance.meetings.service import MeetingService
from appliance.scheduling.sweep import SweepReport, next_launch, sweep
from appliance.scheduling.timing import Timing

log = logging.getLogger(__name__)
# A calendar sync in the worker adds meetings without waking this process: looking every 15 s
# keeps its bots on time (a sweep with nothing due is one small query).
MAX_SLEEP_S = 15.0


class Scheduler:
    def __init__(
        self, meetings: MeetingService, clock: Callable[[], datetime] = utcnow,
        on_swept: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._meetings = meetings
        self._clock = clock
        # The relay's flush: events the worker's calendar sync wrote (meeting.scheduled) go out
        # within a sweep, as the worker has no relay of its own.
        self._on_swept = on_swept
        self._timing = Timing.from_settings(meetings.settings)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduling.sweep")

    def wake(self) -> None:
        """Something changed (a POST /bots with join_at, a move): look again now."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep_now(self) -> SweepReport:
        return await sweep(self._meetings, self._clock(), self._timing)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                report = await self.sweep_now()
                if report.launched or report.skipped or report.failed:
                    log.info("sweep: %d launched, %d skipped, %d failed",
                             len(report.launched), len(report.skipped), len(report.failed))
                if self._on_swept is not None:
                    await self._on_swept()
                upcoming = await next_launch(self._meetings, self._timing, self._clock())
            except Exception:  # one bad sweep must not end scheduling for good
                log.exception("the scheduling sweep failed; retrying in %.0f s", MAX_SLEEP_S)
                upcoming = None
            delay = MAX_SLEEP_S
            if upcoming is not None:
                delay = min(MAX_SLEEP_S, max(0.0, (upcoming - self._clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
