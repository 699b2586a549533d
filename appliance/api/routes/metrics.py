"""Prometheus metrics (contract section 10), computed from the database at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from appliance import __version__
from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.db.models import Meeting, User
from appliance.lifecycle import MeetingStatus
from appliance.worker_health import worker_heartbeat_age_s

api = Api()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot(Collector):
    """Hands prepared metric families to prometheus_client's text renderer."""

    def __init__(self, families: list[GaugeMetricFamily | InfoMetricFamily]) -> None:
        self._families = families

    def collect(self):  # type: ignore[no-untyped-def]
        yield from self._families


@api.endpoint(
    "GET", "/metrics", summary="Prometheus metrics (admin key, or `Authorization: Bearer <admin key>`)",
    tag="health", auth=Auth.ADMIN, responses={200: "Prometheus text format"},
)
async def metrics(request: Request, admin: bool) -> Response:
    services = services_of(request)
    async with services.db.session() as session:
        by_status = dict(
            (await session.execute(select(Meeting.status, func.count()).group_by(Meeting.status))).all()
        )
        users = await session.scalar(select(func.count(User.id)))
    info = InfoMetricFamily("vomeet_build", "Version of the appliance")
    info.add_metric([], {"version": __version__})
    meetings = GaugeMetricFamily("vomeet_meetings", "Meetings by lifecycle status", labels=["status"])
    for status in MeetingStatus:
        meetings.add_metric([status.value], by_status.get(status.value, 0))
    families: list[GaugeMetricFamily | InfoMetricFamily] = [
        info,
        meetings,
        GaugeMetricFamily("vomeet_users", "Registered users", value=users or 0),
        GaugeMetricFamily(
            "vomeet_bots_running", "Bots the runtime is watching", value=len(services.runtime.running())
        ),
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
            GaugeMetricFamily("vomeet_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat", value=age)
        )
    registry = CollectorRegistry()
    registry.register(_Snapshot(families))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE)
