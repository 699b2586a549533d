"""The ASR server's `GET /stats`, fetched one way for everyone who reads it (readiness, bot
admission, /metrics, the OpenAI audio endpoint). Each caller decides what "no answer" means."""

from __future__ import annotations

from typing import Any

import httpx

from appliance.config import Settings

# What a failed fetch raises: no connection, a timeout, an HTTP error status, or a body that is
# not a JSON object.
STATS_ERRORS = (httpx.HTTPError, ValueError)


def asr_base_url(settings: Settings) -> str:
    return f"http://{settings.asr_host}:{settings.asr_port}"


async def fetch_asr_stats(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """The ASR's load and model as it reports them; raises one of STATS_ERRORS when it cannot."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        answer = await client.get(f"{asr_base_url(settings)}/stats")
    answer.raise_for_status()
    stats = answer.json()  # JSON from the wire: its keys are read, and checked, by each caller
    if not isinstance(stats, dict):
        raise ValueError(f"/stats answered a {type(stats).__name__}, not an object")
    return stats
