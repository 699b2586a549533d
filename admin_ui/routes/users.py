"""Administration of users, their limits and their API keys (issued keys are shown once)."""

from __future__ import annotations

import json

from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.access import call_api, load_user
from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of
from appliance import accounts
from appliance.api.endpoint import format_validation_error
from appliance.api.routes import admin
from appliance.api.schemas import UserCreate, UserPatch
from appliance.db.models import ApiToken, Meeting, User

pages = Pages()


def _limit(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise PageError(422, "The bot limit is a whole number (0 = unlimited).")
    return int(value)


@pages.get("/admin/users", admin=True)
async def user_list(request: Request, viewer: Viewer) -> Response:
    async with services_of(request).db.session() as session:
        rows = (await session.execute(
            select(User, func.count(ApiToken.id.distinct()), func.count(Meeting.id.distinct()))
            .outerjoin(ApiToken, ApiToken.user_id == User.id)
            .outerjoin(Meeting, Meeting.user_id == User.id)
            .group_by(User.id).order_by(User.email)
        )).all()
    return await render(request, viewer, "users.html", users=rows)


@pages.post("/admin/users", admin=True)
async def create_user(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    try:
        body = UserCreate(
            email=str(form.get("email") or "").strip().lower(),
            name=str(form.get("name") or "").strip() or None,
            max_concurrent_bots=_limit(str(form.get("max_concurrent_bots") or "")),
        )
    except ValidationError as exc:
        raise PageError(422, format_validation_error(exc, "")) from exc
    if "@" not in body.email:
        raise PageError(422, "Give the user's e-mail address.")
    answer = await call_api(request, admin.create_user, {}, admin=True, body=body)
    user = json.loads(bytes(answer.body))
    verb = "Created" if answer.status_code == 201 else "Found existing"
    return await redirect(request, viewer, f"{PREFIX}/admin/users/{user['id']}", f"{verb} user {user['email']}.")


@pages.get("/admin/users/{user_id:int}", admin=True)
async def user_detail(request: Request, viewer: Viewer) -> Response:
    user_id = request.path_params["user_id"]
    async with services_of(request).db.session() as session:
        user = await accounts.user_with_tokens(session, id=user_id)
    if user is None:
        raise PageError(404, f"There is no user {user_id}.")
    return await render(request, viewer, "user.html", user=user)


@pages.post("/admin/users/{user_id:int}", admin=True)
async def update_user(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    user_id = request.path_params["user_id"]
    limit = _limit(str(form.get("max_concurrent_bots") or ""))
    fields: dict[str, str | int | None] = {"name": str(form.get("name") or "").strip() or None}
    if limit is not None:
        fields["max_concurrent_bots"] = limit
    try:
        body = UserPatch(**fields)
    except ValidationError as exc:
        raise PageError(422, format_validation_error(exc, "")) from exc
    await call_api(request, admin.patch_user, {"user_id": user_id}, admin=True, body=body)
    return await redirect(request, viewer, f"{PREFIX}/admin/users/{user_id}", "Saved.")


@pages.post("/admin/users/{user_id:int}/tokens", admin=True)
async def issue_key(request: Request, viewer: Viewer) -> Response:
    user = await load_user(request, request.path_params["user_id"])
    answer = await call_api(request, admin.create_token, {"user_id": user.id}, admin=True)
    # Handed to the next page once, as its flash message: a reload does not show it again
    # (nor issue another key, as re-posting the form would).
    token = json.loads(bytes(answer.body))["token"]
    return await redirect(request, viewer, f"{PREFIX}/admin/users/{user.id}", f"key:{token}")


@pages.post("/admin/tokens/{token_id:int}/revoke", admin=True)
async def revoke_key(request: Request, viewer: Viewer) -> Response:
    token_id = request.path_params["token_id"]
    async with services_of(request).db.session() as session:
        token = await session.get(ApiToken, token_id)
    if token is None:
        raise PageError(404, f"There is no API key {token_id}.")
    await call_api(request, admin.revoke_token, {"token_id": token_id}, admin=True)
    return await redirect(
        request, viewer, f"{PREFIX}/admin/users/{token.user_id}", f"API key {token.prefix}… revoked."
    )
