"""Upcoming: a user's scheduled meetings (from calendars or POST /bots with join_at) with the
decision on each (auto-join, reason, error) and the per-event override (join / skip / follow the
rules), through the API's /scheduled handlers run as that user."""

from __future__ import annotations

import json

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.access import call_api, load_user
from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of
from appliance.api.routes import scheduled
from appliance.db.models import User

pages = Pages()
OVERRIDES = {"join": "join", "skip": "skip", "rules": None}


def _subject_id(request: Request, viewer: Viewer) -> int | None:
    if not viewer.is_admin:
        return viewer.user_id
    picked = request.query_params.get("user_id", "")
    return int(picked) if picked.isdigit() and len(picked) < 18 else None


@pages.get("/upcoming")
async def upcoming_page(request: Request, viewer: Viewer) -> Response:
    subject_id = _subject_id(request, viewer)
    subject = await load_user(request, subject_id) if subject_id is not None else None
    rows = []
    if subject is not None:
        answer = await call_api(request, scheduled.list_scheduled, {}, user=subject,
                                query=scheduled.ScheduledQuery())
        rows = json.loads(bytes(answer.body))["scheduled"]
    users: list[User] = []
    if viewer.is_admin:
        async with services_of(request).db.session() as session:
            users = list((await session.scalars(select(User).order_by(User.email))).all())
    return await render(request, viewer, "upcoming.html", subject=subject, scheduled=rows, users=users)


@pages.post("/upcoming/{user_id:int}/{scheduled_id:int}/override")
async def override(request: Request, viewer: Viewer) -> Response:
    user_id = request.path_params["user_id"]
    if not viewer.is_admin and user_id != viewer.user_id:
        raise PageError(404, "There is no such scheduled meeting for you to change.")
    choice = str((await request.form()).get("override") or "")
    if choice not in OVERRIDES:
        raise PageError(422, "Choose join, skip or follow the rules.")
    user = await load_user(request, user_id)
    body = scheduled.ScheduledPatch(override=OVERRIDES[choice])
    await call_api(request, scheduled.change_scheduled, {"scheduled_id": request.path_params["scheduled_id"]},
                   user=user, body=body)
    back = f"{PREFIX}/upcoming" + (f"?user_id={user_id}" if viewer.is_admin else "")
    said = {"join": "A bot will join.", "skip": "No bot will join.", "rules": "The rules decide again."}[choice]
    return await redirect(request, viewer, back, said)
