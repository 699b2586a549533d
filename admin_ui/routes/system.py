"""The system page: supervised children (restart), versions, model, logs, settings, backup."""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy
import starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from admin_ui import system
from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of
from appliance import __version__
from appliance.config import Settings
from appliance.tls import current_fingerprint, grouped

if TYPE_CHECKING:
    from appliance.supervisor import Child, Supervisor

pages = Pages()


def _supervisor(request: Request) -> Supervisor | None:
    """The supervisor under `vomeet serve`; None for an app built without one (tests, create_app)."""
    supervisor: Supervisor | None = getattr(request.app.state, "supervisor", None)  # app.state is untyped
    return supervisor


def _model(children: list[Child]) -> str:
    for child in children:
        if child.spec.name == "asr":
            args = child.spec.args
            return args[args.index("--model") + 1] if "--model" in args else "bundled development model (tiny.en)"
    return "no ASR server under this appliance"


@pages.get("/admin/system", admin=True)
async def system_page(request: Request, viewer: Viewer) -> Response:
    services = services_of(request)
    supervisor = _supervisor(request)
    logs_dir = services.settings.logs_dir
    names = system.log_names(logs_dir)
    log_name = request.query_params.get("log") or (names[0] if names else "")
    tail = await asyncio.to_thread(system.log_tail, logs_dir, log_name)
    versions = {
        "Vomeet": __version__, "Python": platform.python_version(), "SQLite": sqlite3.sqlite_version,
        "SQLAlchemy": sqlalchemy.__version__, "Starlette": starlette.__version__,
        "System": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }
    return await render(
        request, viewer, "system.html",
        children=supervisor.status() if supervisor else [],
        model=_model(supervisor.children if supervisor else []), versions=versions,
        log_names=names, log_name=log_name, log_tail=tail,
        settings=system.describe_settings(services.settings),
        machine=await asyncio.to_thread(system.machine, services.settings.data_dir),
        tls_fingerprint=await asyncio.to_thread(_tls_fingerprint, services.settings),
    )


def _tls_fingerprint(settings: Settings) -> str | None:
    """What a person compares with a client's screen before trusting the box (docs/tls.md)."""
    fingerprint = current_fingerprint(settings)
    return None if fingerprint is None else grouped(fingerprint)


@pages.post("/admin/system/children/{name}/restart", admin=True)
async def restart_child(request: Request, viewer: Viewer) -> Response:
    """Stop the child; the supervisor starts it again as it does after any exit."""
    name = request.path_params["name"]
    supervisor = _supervisor(request)
    child = next((c for c in supervisor.status() if c["name"] == name), None) if supervisor else None
    if child is None:
        raise PageError(404, f"No supervised process called {name!r}.")
    if child["state"] != "running" or not child["pid"]:
        raise PageError(409, f"{name} is {child['state']}; only a running process can be restarted.")
    try:
        os.killpg(child["pid"], signal.SIGTERM)  # each child leads its own process group
    except ProcessLookupError as exc:
        raise PageError(409, f"{name} has just exited; the supervisor is starting it again.") from exc
    return await redirect(request, viewer, f"{PREFIX}/admin/system", f"{name} is restarting.")


@pages.get("/admin/system/backup", admin=True)
async def backup(request: Request, viewer: Viewer) -> Response:
    settings = services_of(request).settings
    copy = await asyncio.to_thread(system.backup_database, settings.database_path, settings.state_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return FileResponse(
        copy, media_type="application/vnd.sqlite3", filename=f"vomeet-{stamp}.db",
        background=BackgroundTask(copy.unlink, missing_ok=True),
    )
