"""Prometheus metrics (contract section 10), computed at scrape time: meetings and users from the
database, the ASR server's load from its `GET /stats`, GPUs from NVML, webhook deliveries from
their table, and this process's HTTP figures (appliance.api.http_metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from appliance import __version__
from appliance.api import http_metrics
from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.asr_stats import STATS_ERRORS, fetch_asr_stats
from appliance.config import Settings
from appliance.db.models import Meeting, User, WebhookDelivery
from appliance.gpu import read_gpus
from appliance.lifecycle import MeetingStatus
from appliance.worker_health import worker_heartbeat_age_s

api = Api()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")
ASR_STATS_TIMEOUT_S = 1.0


class _Snapshot(Collector):
    """Hands prepared metric families to prometheus_client's text renderer."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


async def asr_stats(settings: Settings) -> dict[str, Any] | None:
    """The ASR server's `GET /stats`, or None when it does not answer."""
    try:
        return await fetch_asr_stats(settings, ASR_STATS_TIMEOUT_S)
    except STATS_ERRORS:
        return None


def asr_families(stats: dict[str, Any] | None) -> list[Metric]:
    """The ASR's load; only `vomeet_asr_up 0` when it does not answer (or the box runs none)."""
    families: list[Metric] = [GaugeMetricFamily("vomeet_asr_up", "Whether the ASR server answers /stats",
                                                value=0 if stats is None else 1)]
    if stats is None:
        return families

    def number(key: str) -> float | None:
        value = stats.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    gauges = (
        ("vomeet_asr_streams", "Audio streams the ASR is transcribing", "streams", 1.0),
        ("vomeet_asr_lag_seconds", "How far completed segments lag behind the audio", "lag_s", 1.0),
        ("vomeet_asr_pass_lag_seconds", "How far any pass (partials included) lags behind", "pass_lag_s", 1.0),
        ("vomeet_asr_utilisation", "Completed segments' share of the ASR workers (1 = all of them)",
         "utilisation", 1.0),
        ("vomeet_asr_utilisation_max", "The share above which new streams are refused", "utilisation_max", 1.0),
        ("vomeet_asr_wait_seconds", "The wait a refused stream is told", "wait_minutes", 60.0),
    )
    for name, text, key, scale in gauges:
        if (value := number(key)) is not None:
            families.append(GaugeMetricFamily(name, text, value=value * scale))
    if isinstance(stats.get("admitting"), bool):
        families.append(GaugeMetricFamily("vomeet_asr_admitting", "Whether the ASR admits a new stream now",
                                          value=1 if stats["admitting"] else 0))
    counters = (
        ("vomeet_asr_streams_accepted", "Streams the ASR accepted since it started", "accepted"),
        ("vomeet_asr_streams_refused", "Streams the ASR refused (told to wait) since it started", "refused"),
        ("vomeet_asr_passes", "Decoding passes since the ASR started", "passes"),
        ("vomeet_asr_fallbacks", "Passes decoded a second time (Whisper's fallback)", "fallbacks"),
    )
    for name, text, key in counters:
        if (value := number(key)) is not None:
            families.append(CounterMetricFamily(name, text, value=value))
    model = stats.get("model")
    if isinstance(model, dict):
        info = InfoMetricFamily("vomeet_asr_model", "The model the ASR runs")
        info.add_metric([], {key: str(model[key]) for key in ("model", "device", "compute_type", "workers")
                             if model.get(key) is not None})
        families.append(info)
    return families


def gpu_families() -> list[Metric]:
    """Per GPU, when NVML finds one; no samples at all otherwise."""
    found, _ = read_gpus()
    labels = ["gpu", "name"]
    utilisation = GaugeMetricFamily(
        "vomeet_gpu_utilization_percent", "GPU busy time over the last sample period", labels=labels
    )
    used = GaugeMetricFamily("vomeet_gpu_memory_used_bytes", "GPU memory in use", labels=labels)
    total = GaugeMetricFamily("vomeet_gpu_memory_total_bytes", "GPU memory installed", labels=labels)
    temperature = GaugeMetricFamily("vomeet_gpu_temperature_celsius", "GPU core temperature", labels=labels)
    for gpu in found:
        key = [str(gpu.index), gpu.name]
        utilisation.add_metric(key, gpu.utilization_percent)
        used.add_metric(key, gpu.memory_used)
        total.add_metric(key, gpu.memory_total)
        if gpu.temperature_c is not None:
            temperature.add_metric(key, gpu.temperature_c)
    return [utilisation, used, total, temperature]


async def webhook_families(session: AsyncSession) -> list[Metric]:
    """Deliveries kept, by status, and their failed attempts (every attempt of a delivery but a
    delivered one's last)."""
    rows = (await session.execute(
        select(WebhookDelivery.status, func.count(), func.coalesce(func.sum(WebhookDelivery.attempt), 0))
        .group_by(WebhookDelivery.status)
    )).all()
    by_status = {status: (count, attempts) for status, count, attempts in rows}
    deliveries = GaugeMetricFamily("vomeet_webhook_deliveries", "Webhook deliveries kept, by status", labels=["status"])
    for status in sorted(set(DELIVERY_STATUSES) | set(by_status)):
        deliveries.add_metric([status], by_status.get(status, (0, 0))[0])
    attempts = sum(int(a) for _, a in by_status.values())
    failed = attempts - by_status.get("delivered", (0, 0))[0]
    return [
        deliveries,
        GaugeMetricFamily("vomeet_webhook_attempts", "Delivery attempts made, over the deliveries kept",
                          value=attempts),
        GaugeMetricFamily("vomeet_webhook_attempts_failed", "Delivery attempts that failed, over the deliveries kept",
                          value=failed),
    ]


@api.endpoint(
    "GET", "/metrics", summary="Prometheus metrics (admin key, or `Authorization: Bearer <admin key>`)",
    tag="health", auth=Auth.ADMIN, responses={200: "Prometheus text format"},
)
async def metrics(request: Request, admin: bool) -> Response:
    services = services_of(request)
    # The ASR and NVML are asked while the database is read.
    stats_task = asyncio.create_task(asr_stats(services.settings))
    gpus_task = asyncio.create_task(asyncio.to_thread(gpu_families))
    async with services.db.session() as session:
        by_status = dict(
            (await session.execute(select(Meeting.status, func.count()).group_by(Meeting.status))).all()
        )
        users = await session.scalar(select(func.count(User.id)))
        webhooks = await webhook_families(session)
    info = InfoMetricFamily("vomeet_build", "Version of the appliance")
    info.add_metric([], {"version": __version__})
    meetings = GaugeMetricFamily("vomeet_meetings", "Meetings by lifecycle status", labels=["status"])
    for status in MeetingStatus:
        meetings.add_metric([status.value], by_status.get(status.value, 0))
    families: list[Metric] = [
        info,
        meetings,
        GaugeMetricFamily("vomeet_users", "Registered users", value=users or 0),
        GaugeMetricFamily(
            "vomeet_bots_running", "Bots the runtime is watching", value=len(services.runtime.running())
        ),
        *webhooks,
    ]
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is not None:
        up = GaugeMetricFamily("vomeet_child_up", "Whether a supervised child runs", labels=["child"])
        restarts = GaugeMetricFamily(
            "vomeet_child_restarts", "Restarts of a supervised child since start", labels=["child"]
        )
        for child in supervisor.status():
            up.add_metric([child["name"]], 1 if child["state"] == "running" else 0)
            restarts.add_metric([child["name"]], child["restarts"])
        families += [up, restarts]
    age = worker_heartbeat_age_s(services.settings)
    if age is not None:
        families.append(
            GaugeMetricFamily(
                "vomeet_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat", value=age
            )
        )
    families += asr_families(await stats_task)
    families += await gpus_task
    families += http_metrics.REGISTRY.collect()
    registry = CollectorRegistry()
    registry.register(_Snapshot(families))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE)
