"""An administrator's own account: changing the password ends their other sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin_ui import admins, passwords, sessions
from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of

pages = Pages()


@pages.get("/account", admin=True)
async def account_page(request: Request, viewer: Viewer) -> Response:
    return await render(request, viewer, "account.html", min_length=passwords.MIN_LENGTH)


@pages.post("/account/password", admin=True)
async def change_password(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    current, new = str(form.get("current") or ""), str(form.get("new") or "")
    if new != str(form.get("confirm") or ""):
        raise PageError(422, "The new password and its repetition differ.")
    db = services_of(request).db
    async with db.session() as session:
        if await admins.authenticate(session, viewer.name, current) is None:
            raise PageError(403, "The current password is wrong.")
        try:
            await admins.set_password(session, viewer.name, new)
        except passwords.WeakPassword as exc:
            raise PageError(422, f"Not changed: {exc}.") from exc
    assert viewer.admin_id is not None
    ended = await sessions.end_others(db, viewer.admin_id, viewer.session_id)
    others = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
    return await redirect(request, viewer, f"{PREFIX}/account", f"Password changed.{others}")
