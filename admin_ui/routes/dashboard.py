"""The dashboard: live bots, today's meetings, ASR readiness and the machine's load.

The page refreshes its live part every few seconds from /ui/dashboard/live (the same
template fragment, rendered server-side).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, func, select
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import system
from admin_ui.access import call_api, meetings_visible_to
from admin_ui.sessions import Viewer
from admin_ui.web import Pages, render, services_of
from appliance.api.routes import health
from appliance.db.models import Meeting, User
from appliance.lifecycle import LIVE_STATES

pages = Pages()


async def _meetings(request: Request, viewer: Viewer, *where: ColumnElement[bool]) -> list[tuple[Meeting, str]]:
    async with services_of(request).db.session() as session:
        rows = await session.execute(
            select(Meeting, User.email).join(User, User.id == Meeting.user_id)
            .where(meetings_visible_to(viewer), *where).order_by(Meeting.id.desc()).limit(50)
        )
        return [(m, email) for m, email in rows.all()]


async def _readiness(request: Request) -> dict[str, Any]:
    answer = await call_api(request, health.readyz, {})
    ready: dict[str, Any] = json.loads(bytes(answer.body))  # the API's JSON answer
    return ready


async def live_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    midnight = datetime.combine(datetime.now(UTC).date(), time(), UTC)
    services = services_of(request)
    live = await _meetings(request, viewer, Meeting.status.in_([s.value for s in LIVE_STATES]))
    today = await _meetings(request, viewer, Meeting.created_at >= midnight)
    async with services.db.session() as session:
        today_count = await session.scalar(
            select(func.count(Meeting.id)).where(meetings_visible_to(viewer), Meeting.created_at >= midnight)
        )
    machine = await asyncio.to_thread(system.machine, services.settings.data_dir)
    return {"live": live, "today": today, "today_count": today_count or 0,
            "ready": await _readiness(request), "machine": machine}


@pages.get("")
async def dashboard(request: Request, viewer: Viewer) -> Response:
    return await render(request, viewer, "dashboard.html", **await live_context(request, viewer))


@pages.get("/dashboard/live")
async def dashboard_live(request: Request, viewer: Viewer) -> Response:
    return await render(request, viewer, "dashboard_live.html", fragment=True, **await live_context(request, viewer))
