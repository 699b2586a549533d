"""Liveness, readiness and the system view for administrators (contract section 10)."""

from __future__ import annotations

import shutil

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appliance import __version__
from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.asr_stats import STATS_ERRORS, asr_base_url, fetch_asr_stats
from appliance.worker_health import worker_heartbeat_age_s

api = Api()
TAG = "health"
WORKER_HEARTBEAT_STALE_S = 90.0


@api.endpoint("GET", "/healthz", summary="The process is alive", tag=TAG, auth=Auth.PUBLIC)
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def _check_database(request: Request) -> dict[str, object]:
    try:
        async with services_of(request).db.session() as session:
            await session.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as exc:  # readiness reports, it does not raise
        return {"ok": False, "detail": str(exc)}


async def _check_asr(request: Request) -> dict[str, object]:
    settings = services_of(request).settings
    url = asr_base_url(settings)
    try:
        load = await fetch_asr_stats(settings, timeout_s=1.0)
    except STATS_ERRORS as exc:
        return {"ok": False, "detail": f"no ASR server answers on {settings.asr_host}:{settings.asr_port} ({exc})"}
    return {
        "ok": True,
        "url": url.replace("http://", "ws://"),
        "streams": load.get("streams"),
        "lag_s": load.get("lag_s"),
        "accepted": load.get("accepted"),
        "refused": load.get("refused"),
        "model": (load.get("model") or {}).get("model"),
    }


def _check_runtime(request: Request) -> dict[str, object]:
    services = services_of(request)
    from appliance.browser import find_chromium  # local: only readiness needs it

    chromium = find_chromium(services.settings.chromium_path)
    return {
        "ok": chromium is not None,
        "kind": services.runtime.kind,
        "running_bots": len(services.runtime.running()),
        "chromium": str(chromium) if chromium else None,
        **({} if chromium else {"detail": "Chromium not found; install Debian's chromium package"}),
    }


def _check_worker(request: Request) -> dict[str, object]:
    supervisor = getattr(request.app.state, "supervisor", None)
    for child in supervisor.status() if supervisor else []:
        if child["name"] == "worker" and child["state"] == "failed":
            # Its last heartbeat may still look fresh; the supervisor knows it is gone for good.
            return {"ok": False, "detail": "the task worker kept crashing and was given up; "
                    "see logs/worker.log and restart the appliance"}
    age = worker_heartbeat_age_s(services_of(request).settings)
    if age is None:
        return {"ok": False, "detail": "the task worker has not reported yet"}
    return {"ok": age < WORKER_HEARTBEAT_STALE_S, "heartbeat_age_s": round(age, 1)}


@api.endpoint(
    "GET", "/readyz", summary="Database, ASR, bot runtime and worker, each reported", tag=TAG,
    auth=Auth.PUBLIC, responses={200: "ready", 503: "a required part is not ready"},
)
async def readyz(request: Request) -> Response:
    checks = {
        "database": await _check_database(request),
        "bot_runtime": _check_runtime(request),
        "worker": _check_worker(request),
        "asr": await _check_asr(request),
    }
    required = ("database", "bot_runtime")
    ready = all(checks[name]["ok"] for name in required)
    return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)


@api.endpoint(
    "GET", "/admin/system", summary="Supervised children, versions and disk", tag="admin",
    auth=Auth.ADMIN, responses={200: "system status"},
)
async def system_status(request: Request, admin: bool) -> Response:
    services = services_of(request)
    supervisor = getattr(request.app.state, "supervisor", None)
    disk = shutil.disk_usage(services.settings.data_dir)
    return JSONResponse(
        {
            "version": __version__,
            "children": supervisor.status() if supervisor else [],
            "running_bots": {str(k): v for k, v in services.runtime.running().items()},
            "data_dir": str(services.settings.data_dir.resolve()),
            "disk": {"total_bytes": disk.total, "free_bytes": disk.free},
        }
    )
