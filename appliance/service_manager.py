"""What `vomeet serve` tells systemd (Type=notify) and how it drains on a stop order.

- READY=1 once the migrations have run (before `serve` gets here), the API answers its own
  `/readyz` on the loopback address with 200, and every child has been started and reports
  in (worker heartbeat, ASR answering), or `CHILDREN_READY_WAIT_S` has passed: an ASR that cannot
  load its model must not keep the API, which says what is wrong, from counting as started.
- WATCHDOG=1 every half WatchdogSec from a task on the supervisor's event loop: when the loop
  is blocked (a hung supervisor) the pings stop and systemd restarts the service.
- STATUS= what the box is doing ("ready: 3 bots live, ASR ready, worker ok"), refreshed from
  the same `/readyz` answer.
- The stop order (`drain`): new bots refused (503), live bots asked to leave, then the ASR's
  last segments delivered to the API, and only then the API and the children stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from appliance.config import ConfigError, Settings, load_settings
from appliance.sd_notify import Notifier

log = logging.getLogger(__name__)
STATUS_EVERY_S = 2.0
CHILDREN_READY_WAIT_S = 120.0
ASR_DRAIN_TIMEOUT_S = 30.0  # the ASR's last segments after the bots left (unit: TimeoutStopSec)
# Settings a SIGHUP applies to the running process; any other change needs a restart.
LIVE_SETTINGS = ("log_level",)


class BotLaunchGate:
    """ASGI wrapper that answers `POST /bots` with 503 once the appliance is shutting down, so
    that no bot is started that would be cut off a moment later."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.closed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.closed and scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/bots":
            body = json.dumps({"detail": "The appliance is shutting down; send the bot again once it is back."})
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", b"30")]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:  # uvicorn reads the wrapped app's attributes
        return getattr(self.app, name)


def describe(readiness: dict[str, Any] | None, asr_expected: bool) -> tuple[bool, bool, str]:
    """(API ready, children reporting, STATUS text) from a `/readyz` answer (None: no answer)."""
    if readiness is None:
        return False, False, "starting: the API does not answer yet"
    checks = readiness.get("checks", {})
    bots = int(checks.get("bot_runtime", {}).get("running_bots") or 0)
    worker_ok = bool(checks.get("worker", {}).get("ok"))
    asr_ok = bool(checks.get("asr", {}).get("ok"))
    parts = [f"{bots} bot{'' if bots == 1 else 's'} live"]
    if asr_expected:
        parts.append("ASR ready" if asr_ok else "ASR not answering")
    parts.append("worker ok" if worker_ok else "worker not reporting")
    ready = bool(readiness.get("ready"))
    problems = [name for name in ("database", "bot_runtime") if not checks.get(name, {}).get("ok")]
    prefix = "ready" if ready else f"not ready ({', '.join(problems) or 'starting'})"
    return ready, worker_ok and (asr_ok or not asr_expected), f"{prefix}: {', '.join(parts)}"


class Reporter:
    """Keeps systemd told: READY once, STATUS on change, WATCHDOG on time."""

    def __init__(self, notifier: Notifier, settings: Settings, children_started: Callable[[], bool]) -> None:
        self.notifier = notifier
        self.settings = settings
        self.children_started = children_started
        self.ready_sent = False
        self.stopping = False
        self.last_status = ""
        self._started = time.monotonic()

    async def readiness(self) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient(timeout=STATUS_EVERY_S) as client:
                answer = await client.get(f"{self.settings.loopback_url}/readyz")
            ready: dict[str, Any] = answer.json()  # JSON from the wire
            return ready
        except (httpx.HTTPError, ValueError):
            return None

    def status(self, text: str) -> None:
        if text != self.last_status:
            self.last_status = text
            self.notifier.status(text)

    async def check(self) -> None:
        ready, children_ok, text = describe(await self.readiness(), self.settings.asr_enabled)
        if self.stopping:
            return
        if not self.ready_sent:
            waited = time.monotonic() - self._started > CHILDREN_READY_WAIT_S
            if ready and self.children_started() and (children_ok or waited):
                self.ready_sent = True
                self.last_status = text
                self.notifier.ready(text)
                log.info("told systemd: ready (%s)", text)
                return
        self.status(text)

    async def watch_status(self) -> None:
        if not self.notifier.enabled:
            return  # not run by systemd: nobody to tell
        while True:
            await self.check()
            await asyncio.sleep(STATUS_EVERY_S)

    async def watchdog(self) -> None:
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    def stop(self, text: str) -> None:
        self.stopping = True
        self.last_status = text
        self.notifier.stopping(text)


async def asr_owed(settings: Settings) -> int | None:
    """Streams the ASR still has open or is still delivering (None: it does not answer)."""
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            answer = await client.get(f"http://{settings.asr_host}:{settings.asr_port}/stats")
        stats = answer.json()
    except (httpx.HTTPError, ValueError):
        return None
    return int(stats.get("streams") or 0) + int(stats.get("flushing") or 0)


async def wait_for_asr_drain(settings: Settings, timeout_s: float = ASR_DRAIN_TIMEOUT_S) -> bool:
    """Until the ASR has delivered every segment of the streams the departed bots closed (their
    last words reach the database while the API still runs); False if it ran out of time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owed = await asr_owed(settings)
        if not owed:  # 0, or no ASR to wait for
            return True
        await asyncio.sleep(0.2)
    log.warning("the ASR still owed segments after %.0f s; its spool delivers them at the next start", timeout_s)
    return False


def reload_settings(current: Settings) -> tuple[Settings, str]:
    """Re-read the settings and apply the ones that can change live (LIVE_SETTINGS); the others
    are named, since applying them means a restart. Nothing is restarted: live bots go on."""
    try:
        fresh = load_settings()
    except ConfigError as exc:
        log.error("reload refused, the settings are invalid; the running ones stay:\n%s", exc)
        return current, "reload refused: invalid settings"
    changed = [name for name in type(current).model_fields if getattr(fresh, name) != getattr(current, name)]
    applied = [name for name in changed if name in LIVE_SETTINGS]
    if "log_level" in applied:
        logging.getLogger().setLevel(fresh.log_level.upper())
    pending = [name for name in changed if name not in LIVE_SETTINGS]
    if pending:
        log.warning("reloaded; these take effect at the next restart: %s", ", ".join(pending))
    log.info("reloaded settings; applied: %s", ", ".join(applied) or "none changed")
    return fresh, f"reloaded ({', '.join(applied) or 'nothing'} applied)"


async def cancel(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
