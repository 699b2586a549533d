"""Send a bot: paste a link, see what it parsed, choose the options, launch, follow it."""

from __future__ import annotations

import json

from pydantic import ValidationError
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.access import call_api, load_user
from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of
from appliance.api.endpoint import format_validation_error
from appliance.api.routes import bots
from appliance.api.schemas import BotRequest
from appliance.db.models import User
from appliance.meeting_urls import BOT_PLATFORMS, NO_BOT_YET, PLATFORM_NAMES, MeetingUrlError, parse_url

pages = Pages()


@pages.get("/parse")
async def parse_link(request: Request, viewer: Viewer) -> Response:
    """What the appliance reads in a pasted link (the form shows it while one types)."""
    url = request.query_params.get("url", "").strip()
    if not url:
        return JSONResponse({"ok": False, "error": "Paste a Google Meet or Microsoft Teams link."})
    try:
        ref = parse_url(url, services_of(request).settings)
    except MeetingUrlError as exc:
        return JSONResponse({"ok": False, "error": str(exc)})
    if ref.platform not in BOT_PLATFORMS:
        return JSONResponse({"ok": False, "error": NO_BOT_YET.format(platform=PLATFORM_NAMES[ref.platform])})
    return JSONResponse({
        "ok": True, "platform": ref.platform.value, "platform_name": PLATFORM_NAMES[ref.platform],
        "native_meeting_id": ref.native_meeting_id, "passcode": ref.passcode,
    })


async def _users(request: Request) -> list[User]:
    async with services_of(request).db.session() as session:
        return list((await session.scalars(select(User).order_by(User.email))).all())


@pages.get("/send")
async def send_form(request: Request, viewer: Viewer) -> Response:
    users = await _users(request) if viewer.is_admin else []
    return await render(request, viewer, "send.html", users=users)


def _bot_request(form: dict[str, str]) -> BotRequest:
    fields = {
        "meeting_url": form.get("meeting_url", "").strip() or None,
        "bot_name": form.get("bot_name", "").strip() or None,
        "language": form.get("language", "").strip() or None,
        "task": form.get("task") or None,
        "recording_enabled": form.get("recording_enabled") == "on",
    }
    if fields["meeting_url"] is None:
        raise PageError(422, "Paste the meeting's link first.")
    try:
        return BotRequest.model_validate(fields)
    except ValidationError as exc:
        raise PageError(422, format_validation_error(exc, "")) from exc


@pages.post("/send")
async def send(request: Request, viewer: Viewer) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    body = _bot_request(form)
    owner_id = int(form["user_id"]) if viewer.is_admin and form.get("user_id", "").isdigit() else viewer.user_id
    if owner_id is None:
        raise PageError(422, "Choose the user the bot works for.")
    user = await load_user(request, owner_id)
    answer = await call_api(request, bots.request_bot, {}, user=user, body=body)
    meeting = json.loads(bytes(answer.body))
    return await redirect(
        request, viewer, f"{PREFIX}/meetings/{meeting['id']}",
        f"Bot sent to {PLATFORM_NAMES.get(meeting['platform'], meeting['platform'])} meeting "
        f"{meeting['native_meeting_id']}.",
    )
