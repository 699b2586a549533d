"""The bot's line to the appliance: lifecycle reports and commands, retried through passing errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from asr.backoff import Backoff

log = logging.getLogger(__name__)
RETRY_DELAYS_S = (0.5, 1, 2, 4, 8, 15, 30, 30)


class ReportRefused(Exception):
    """The appliance refused the report (illegal move or ended meeting); retrying cannot help."""


@dataclass(frozen=True)
class Command:
    stop: bool
    language: str | None
    task: str | None
    config_version: int


class ApplianceLink:
    def __init__(self, api_url: str, bot_token: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {bot_token}"}, timeout=10
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        backoff = Backoff(RETRY_DELAYS_S)  # one try, then one more after each delay
        while True:
            try:
                answer = await self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:  # appliance restarting, network blip
                last_error: Exception = exc
            else:
                if answer.status_code in (401, 403, 409, 422):
                    raise ReportRefused(f"{answer.status_code}: {answer.json().get('detail')}")
                if answer.status_code < 500:
                    answer.raise_for_status()
                    answered: dict[str, Any] = answer.json()  # JSON from the wire
                    return answered
                last_error = RuntimeError(f"{answer.status_code}: {answer.text[:200]}")
            if backoff.exhausted:
                raise ConnectionError(f"the appliance did not answer {method} {path}: {last_error}")
            await backoff.wait()

    async def report(
        self, status: str, reason: str | None = None, error_details: str | None = None
    ) -> None:
        body = {"status": status, "reason": reason, "error_details": error_details}
        log.info("reporting %s%s", status, f" ({reason})" if reason else "")
        await self._call("POST", "/internal/bot/status", json=body)

    async def speakers(self, turns: list[dict[str, Any]]) -> None:
        """Who spoke when (Unix times), for a channel that mixes participants."""
        await self._call("POST", "/internal/bot/speakers", json={"turns": turns})

    async def command(self) -> Command:
        answer = await self._call("GET", "/internal/bot/command")
        config = answer.get("config", {})
        return Command(
            stop=bool(answer.get("stop")),
            language=config.get("language"),
            task=config.get("task"),
            config_version=int(config.get("version", 0)),
        )
