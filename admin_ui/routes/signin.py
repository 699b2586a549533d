"""Signing in (administrator password, or a user's API key) and out.

The sign-in form has no session yet, so its CSRF token is a random value in a short-lived
cookie that the form must repeat (double submit); sign-in failures count towards lockout.
"""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from admin_ui import admins, lockout, sessions
from admin_ui.sessions import Viewer
from admin_ui.web import (
    PREFIX,
    Pages,
    client_address,
    current_viewer,
    local_path,
    render,
    services_of,
)
from appliance import accounts
from appliance.db.models import ApiToken
from appliance.security import hash_secret

SIGNIN_CSRF_COOKIE = "vomeet_signin_csrf"
pages = Pages()


async def signin_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    if error is None and await current_viewer(request) is not None:
        return RedirectResponse(local_path(request.query_params.get("next")), 303)
    token = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    form = await request.form() if request.method == "POST" else {}
    response = await render(
        request, None, "signin.html", status_code, csrf=token, error=error,
        next=local_path(str(form.get("next") or request.query_params.get("next") or "")),
        kind=str(form.get("kind") or "admin"), username=str(form.get("username") or ""),
    )
    sessions.set_cookie(response, request, SIGNIN_CSRF_COOKIE, token, 3600)
    return response


async def signin(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    sent = str(form.get("csrf_token") or "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return await signin_page(request, "The form expired; please sign in again.", 403)
    db, client = services_of(request).db, client_address(request)
    kind = str(form.get("kind") or "admin")
    username = str(form.get("username") or "").strip()
    account = f"admin:{username}" if kind == "admin" else "api-key"
    async with db.session() as session:
        try:
            await lockout.check(session, account, client)
        except lockout.LockedOut as exc:
            return await signin_page(request, str(exc), 429)
        admin_id = user_id = token_id = None
        if kind == "admin":
            admin = await admins.authenticate(session, username, str(form.get("password") or ""))
            admin_id = admin.id if admin else None
        else:
            key = str(form.get("api_key") or "").strip()
            user = await accounts.user_for_token(session, key) if key else None
            if user is not None:
                user_id = user.id
                token_id = await session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_secret(key)))
        succeeded = admin_id is not None or user_id is not None
        await lockout.record(session, account, client, succeeded)
    if not succeeded:
        wrong = "name or password" if kind == "admin" else "API key"
        return await signin_page(request, f"Wrong {wrong}.", 401)
    cookie = await sessions.create(db, client, admin_id=admin_id, user_id=user_id, token_id=token_id)
    response = RedirectResponse(local_path(str(form.get("next") or "")), 303)
    sessions.set_cookie(response, request, sessions.COOKIE, cookie, int(sessions.LIFETIME.total_seconds()))
    sessions.clear_cookie(response, request, SIGNIN_CSRF_COOKIE)
    return response


@pages.post("/signout")
async def signout(request: Request, viewer: Viewer) -> Response:
    services = services_of(request)
    # First, so that the sockets are told "signed out", not what the sweep would find.
    services.live.sockets.withdraw("signed out", console_session_id=viewer.session_id)
    await sessions.end(services.db, viewer.session_id)
    response = RedirectResponse(f"{PREFIX}/signin", 303)
    sessions.clear_cookie(response, request, sessions.COOKIE)
    return response


routes = [
    Route(f"{PREFIX}/signin", signin_page, methods=["GET"]),
    Route(f"{PREFIX}/signin", signin, methods=["POST"]),
    *pages.routes,
]
