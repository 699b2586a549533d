"""Console pages: routing with sign-in, admin and CSRF checks, template rendering, flash messages.

Every POST must carry the session's CSRF token (form field `csrf_token` or header
`X-CSRF-Token`); one without it is refused with 403 before its handler runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from admin_ui import sessions
from admin_ui.sessions import Viewer
from appliance import __version__
from appliance.api.errors import ApiError, as_api_error
from appliance.errors import DomainError
from appliance.services import Services

PREFIX = "/ui"
HERE = Path(__file__).resolve().parent
PageHandler = Callable[[Request, Viewer], Awaitable[Response]]


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: datetime | str | None) -> str:
    return value.isoformat() if isinstance(value, datetime) else (value or "")


def _bytes(value: float | None) -> str:
    if value is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
    trim_blocks=True, lstrip_blocks=True,
)
templates.filters.update(when=_when, iso=_iso, bytes=_bytes)
templates.globals.update(version=__version__, prefix=PREFIX)


class PageError(Exception):
    """A problem to show the person: status code and a sentence that says what to do."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services  # starlette's app.state is untyped
    return services


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_viewer(request: Request) -> Viewer | None:
    return await sessions.load(services_of(request).db, request.cookies.get(sessions.COOKIE))


async def render(
    request: Request, viewer: Viewer | None, template: str, status_code: int = 200, *,
    fragment: bool = False, **context: Any,
) -> HTMLResponse:
    """A page (or, with `fragment`, a part of one: it leaves the flash message for the page)."""
    flash = None
    if viewer is not None and not fragment:
        flash = await sessions.pop_flash(services_of(request).db, viewer.session_id)
    html = templates.get_template(template).render(
        request=request, viewer=viewer, flash=flash, path=request.url.path,
        status_code=status_code, **context
    )
    headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
               "Content-Security-Policy": CSP, "Referrer-Policy": "same-origin"}
    return HTMLResponse(html, status_code, headers=headers)


# Everything comes from the appliance itself; inline scripts are not allowed at all.
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


async def redirect(request: Request, viewer: Viewer, to: str, flash: str | None = None) -> Response:
    if flash:
        await sessions.push_flash(services_of(request).db, viewer.session_id, flash)
    return RedirectResponse(to, 303)


def local_path(target: str | None, default: str = PREFIX) -> str:
    """Only a path on this site (no scheme, no host): an open redirect would help phishing."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX):
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf_token") or "")
    if not sent:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


class Pages:
    """Collects the console's routes; each handler gets the signed-in Viewer."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def get(self, path: str, *, admin: bool = False) -> Callable[[PageHandler], PageHandler]:
        return self._add("GET", path, admin)

    def post(self, path: str, *, admin: bool = False) -> Callable[[PageHandler], PageHandler]:
        return self._add("POST", path, admin)

    def _add(self, method: str, path: str, admin: bool) -> Callable[[PageHandler], PageHandler]:
        def register(handler: PageHandler) -> PageHandler:
            self.routes.append(Route(PREFIX + path, _guarded(handler, admin), methods=[method]))
            return handler

        return register


def _guarded(handler: PageHandler, admin: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        viewer = await current_viewer(request)
        if viewer is None:
            if request.method == "GET":
                return RedirectResponse(f"{PREFIX}/signin?next={quote(request.url.path)}", 303)
            return await render(request, None, "error.html", 401, message="Your session has ended; sign in again.")
        if request.method == "POST" and not await csrf_ok(request, viewer.csrf_token):
            return await render(
                request, viewer, "error.html", 403,
                message="This form could not be verified (missing or wrong CSRF token). "
                "Reload the page and try again.",
            )
        if admin and not viewer.is_admin:
            return await render(request, viewer, "error.html", 403, message="This page is for administrators.")
        try:
            return await handler(request, viewer)
        except (ApiError, DomainError, PageError) as exc:
            error = as_api_error(exc) if isinstance(exc, DomainError) else exc
            message = error.detail if isinstance(error, ApiError) else error.message
            if request.method == "POST":
                back = local_path(request.headers.get("referer"))
                return await redirect(request, viewer, back, f"error:{message}")
            return await render(request, viewer, "error.html", error.status_code, message=message)

    return endpoint
