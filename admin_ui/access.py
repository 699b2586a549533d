"""What a viewer may see, and running the appliance's own API handlers on their behalf.

A user sees their own meetings only (another user's is reported missing, as the API does);
an administrator sees every meeting and acts as its owner when using the user API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, select, true
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.sessions import Viewer
from admin_ui.web import PageError, services_of
from appliance.api.endpoint import Handler
from appliance.db.models import Meeting, User
from appliance.meetings.access import readable_by


def meetings_visible_to(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.is_admin or viewer.user_id is None:
        return true() if viewer.is_admin else false()
    return readable_by(viewer.user_id)  # own, and those a calendar of theirs holds (issue 16)


async def visible_meeting(request: Request, viewer: Viewer, meeting_id: int) -> Meeting:
    async with services_of(request).db.session() as session:
        meeting = await session.scalar(select(Meeting).where(Meeting.id == meeting_id, meetings_visible_to(viewer)))
    if meeting is None:
        raise PageError(404, f"There is no meeting {meeting_id} for you to see.")
    return meeting


async def load_user(request: Request, user_id: int | None) -> User:
    async with services_of(request).db.session() as session:
        user = await session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise PageError(404, f"There is no user {user_id}.")
    return user


async def call_api(request: Request, handler: Handler, path_params: dict[str, Any], **kwargs: Any) -> Response:
    """Run an API endpoint's handler with the console's principal instead of a key.

    Authorisation has been decided by the console; the handler keeps its own validation,
    errors (ApiError) and side effects, so the console and the API cannot diverge.
    """
    inner = Request({**request.scope, "path_params": path_params}, request.receive)
    return await handler(inner, **kwargs)
