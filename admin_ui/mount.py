"""Mounting the console in the appliance: its pages, static files, `/` -> `/ui`, and the
session-cookie sign-in for the live WebSocket `/ws`."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from admin_ui import sessions
from admin_ui.routes import (
    account,
    calendars,
    dashboard,
    devices,
    meetings,
    send,
    signin,
    system,
    upcoming,
    users,
    webhooks,
)
from admin_ui.web import HERE, PREFIX
from appliance.db.models import Meeting
from appliance.live.sockets import Opener
from appliance.services import Services


async def _to_console(request: Request) -> Response:
    return RedirectResponse(PREFIX, 307)


def console_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/", _to_console, methods=["GET"]), *signin.routes]
    for module in (dashboard, send, meetings, upcoming, calendars, users, webhooks, devices, system, account):
        routes.extend(module.pages.routes)
    routes.append(Mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static"))
    return routes


async def websocket_session_user(websocket: WebSocket) -> Opener | None:
    """The user a console session may watch on /ws: the signed-in user, or for an
    administrator the owner of the meeting named by `?meeting_id=`; with the session (and the
    key a user signed in with), so that signing out or revoking the key closes the socket.
    The Origin must be this site, so another site cannot borrow the cookie (SameSite=Strict
    already keeps it home)."""
    origin = websocket.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != websocket.headers.get("host"):
        return None
    services: Services = websocket.app.state.services
    viewer = await sessions.load(services.db, websocket.cookies.get(sessions.COOKIE))
    if viewer is None:
        return None
    if not viewer.is_admin:
        assert viewer.user_id is not None
        return Opener(viewer.user_id, viewer.token_id, viewer.session_id)
    meeting_id = websocket.query_params.get("meeting_id", "")
    if not meeting_id.isdigit() or len(meeting_id) > 18:
        return None
    async with services.db.session() as session:
        meeting = await session.get(Meeting, int(meeting_id))
    return Opener(meeting.user_id, console_session_id=viewer.session_id) if meeting else None


def mount_console(app: Starlette) -> None:
    app.router.routes.extend(console_routes())
    app.state.ws_session_user = websocket_session_user
