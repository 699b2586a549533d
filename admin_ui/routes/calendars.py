"""Calendars: a user's calendar connections (sync state, auto-join rules, test / sync now /
delete), connecting a new one (ICS, CalDAV, Google by a pasted code, Microsoft by the device
code), and for administrators the organisation-wide connections.

Every action runs the API's own handler as the connection's owner (access.call_api), so the
console and the REST API cannot disagree about validation, secrets or side effects.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.access import call_api, load_user
from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of
from appliance.api.endpoint import format_validation_error
from appliance.api.routes import calendar_oauth, calendars
from appliance.calendars.oauth_connections import DEVICE_FLOWS
from appliance.db.models import CalendarConnection, User

pages = Pages()
MODES = ("all", "organised", "accepted", "keyword", "none")


def _json(answer: Response) -> Any:
    return json.loads(bytes(answer.body))


def _subject_id(request: Request, viewer: Viewer) -> int | None:
    """Whose connections the page shows: the user's own, or the one an administrator picked."""
    if not viewer.is_admin:
        return viewer.user_id
    picked = request.query_params.get("user_id", "")
    return int(picked) if picked.isdigit() and len(picked) < 18 else None


def _back(viewer: Viewer, user_id: int | None) -> str:
    return f"{PREFIX}/calendars" + (f"?user_id={user_id}" if viewer.is_admin and user_id else "")


def _rules(form: Any) -> dict[str, Any]:
    keywords = [k.strip() for k in str(form.get("keywords") or "").split(",") if k.strip()]
    return {"mode": str(form.get("mode") or "all"), "keywords": keywords,
            "skip_private": form.get("skip_private") == "on"}


def _model(model: type[Any], values: dict[str, Any]) -> Any:
    try:
        return model(**values)
    except ValidationError as exc:
        raise PageError(422, format_validation_error(exc, "")) from exc


@pages.get("/calendars")
async def calendars_page(request: Request, viewer: Viewer) -> Response:
    subject_id = _subject_id(request, viewer)
    subject = await load_user(request, subject_id) if subject_id is not None else None
    own = _json(await call_api(request, calendars.list_calendars, {}, user=subject))["calendars"] if subject else []
    organisation: list[dict[str, Any]] = []
    users: list[User] = []
    if viewer.is_admin:
        organisation = _json(await call_api(request, calendar_oauth.list_organisation_calendars, {},
                                            admin=True))["calendars"]
        async with services_of(request).db.session() as session:
            users = list((await session.scalars(select(User).order_by(User.email))).all())
    flow = None
    if subject is not None and request.query_params.get("flow"):
        flow = DEVICE_FLOWS.get(request.query_params["flow"], subject)
    settings = services_of(request).settings
    return await render(
        request, viewer, "calendars.html", subject=subject, connections=own, organisation=organisation,
        users=users, modes=MODES, flow=flow, google_ready=bool(settings.calendar_google_client_id),
        microsoft_ready=bool(settings.calendar_microsoft_client_id),
    )


async def _owned(request: Request, viewer: Viewer) -> tuple[CalendarConnection, User | None]:
    """The connection named in the path, if the viewer may act on it, and its owner (None:
    organisation-wide, administrators only)."""
    async with services_of(request).db.session() as session:
        connection = await session.get(CalendarConnection, request.path_params["connection_id"])
    if connection is None or not (viewer.is_admin or connection.user_id == viewer.user_id):
        raise PageError(404, "There is no such calendar connection for you to change.")
    owner = await load_user(request, connection.user_id) if connection.user_id is not None else None
    return connection, owner


@pages.post("/calendars/{user_id:int}/connect")
async def connect(request: Request, viewer: Viewer) -> Response:
    user_id = request.path_params["user_id"]
    if not viewer.is_admin and user_id != viewer.user_id:
        raise PageError(404, "There is no such user for you to change.")
    user = await load_user(request, user_id)
    form = await request.form()
    kind = str(form.get("kind") or "")
    rules = _rules(form)
    name = str(form.get("name") or "").strip() or None
    if kind in ("ics", "caldav"):
        body = _model(calendars.CalendarCreate, {
            "kind": kind, "name": name, "url": str(form.get("url") or "").strip(),
            "username": str(form.get("username") or "").strip() or None,
            "password": str(form.get("password") or "") or None, "rules": rules})
        answer = await call_api(request, calendars.create_calendar, {}, user=user, body=body)
    elif kind == "google":
        pasted = str(form.get("token") or "").strip()
        # A refresh token from Google starts with "1//"; anything else is taken as a code.
        fields = ({"refresh_token": pasted} if pasted.startswith("1//") else {
            "code": pasted, "code_verifier": str(form.get("code_verifier") or "").strip() or None,
            "redirect_uri": str(form.get("redirect_uri") or "").strip() or None})
        body = _model(calendar_oauth.GoogleHandover, {**fields, "name": name, "rules": rules})
        answer = await call_api(request, calendar_oauth.connect_google, {}, user=user, body=body)
    elif kind == "microsoft":
        body = _model(calendar_oauth.DeviceStart, {"name": name, "rules": rules})
        flow = _json(await call_api(request, calendar_oauth.start_microsoft, {}, user=user, body=body))
        sep = "&" if viewer.is_admin else "?"
        return await redirect(request, viewer, f"{_back(viewer, user_id)}{sep}flow={flow['id']}")
    else:
        raise PageError(422, "Choose the kind of calendar to connect.")
    made = _json(answer)
    return await redirect(request, viewer, _back(viewer, user_id), f"Connected {made['name']}.")


@pages.post("/calendars/connection/{connection_id:int}/rules")
async def save_rules(request: Request, viewer: Viewer) -> Response:
    connection, owner = await _owned(request, viewer)
    rules = _rules(await request.form())
    if owner is None:
        raise PageError(422, "Organisation-wide rules are set when the connection is made; each user's own "
                             "overrides apply on the Upcoming page.")
    body = _model(calendars.CalendarPatch, {"rules": rules})
    await call_api(request, calendars.patch_calendar, {"connection_id": connection.id}, user=owner, body=body)
    return await redirect(request, viewer, _back(viewer, owner.id), f"Rules of {connection.name} saved.")


@pages.post("/calendars/connection/{connection_id:int}/{action:str}")
async def act(request: Request, viewer: Viewer) -> Response:
    action = request.path_params["action"]
    connection, owner = await _owned(request, viewer)
    params = {"connection_id": connection.id}
    back = _back(viewer, owner.id if owner else None)
    if owner is None:
        if action != "delete" or not viewer.is_admin:
            raise PageError(404, "Organisation-wide connections can only be removed here.")
        await call_api(request, calendar_oauth.delete_organisation_calendar, params, admin=True)
        return await redirect(request, viewer, back, f"Removed {connection.name}.")
    if action == "test":
        result = _json(await call_api(request, calendars.test_calendar, params, user=owner))
        message = "The calendar answered." if result["ok"] else f"error:The calendar failed: {result['error']}"
    elif action == "sync":
        found = _json(await call_api(request, calendars.sync_calendar, params, user=owner))
        message = (f"error:The sync failed: {found['last_error']}" if found["last_error"]
                   else f"Synced: {found['upcoming_events']} upcoming events.")
    elif action == "delete":
        await call_api(request, calendars.delete_calendar, params, user=owner)
        message = f"Disconnected {connection.name}."
    else:
        raise PageError(404, f"No action {action!r}.")
    return await redirect(request, viewer, back, message)


@pages.post("/admin/calendars", admin=True)
async def connect_organisation(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    kind = str(form.get("kind") or "")
    key = form.get("service_account_key")
    key_text = (await key.read()).decode("utf-8", "replace") if isinstance(key, UploadFile) else str(key or "")
    values = {"kind": kind, "name": str(form.get("name") or "").strip() or None,
              "domain": str(form.get("domain") or "").strip() or None, "rules": _rules(form)}
    if kind == "google":
        values["service_account_key"] = key_text.strip() or None
    else:
        values |= {f: str(form.get(f) or "").strip() or None for f in ("tenant", "client_id", "client_secret")}
    body = _model(calendar_oauth.OrganisationCalendarCreate, values)
    made = _json(await call_api(request, calendar_oauth.create_organisation_calendar, {}, admin=True, body=body))
    return await redirect(request, viewer, f"{PREFIX}/calendars", f"Connected {made['name']} for every user.")
