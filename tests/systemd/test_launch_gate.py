"""During a stop order no new bot starts: appliance.service_manager.BotLaunchGate answers
`POST /bots` with 503 and Retry-After once closed, and passes everything else through."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from appliance.service_manager import BotLaunchGate


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "path": request.url.path}, 201)


def test_gate_refuses_new_bots_only_once_closed() -> None:
    app = Starlette(routes=[Route("/bots", echo, methods=["GET", "POST"]), Route("/meetings", echo, methods=["POST"])])
    gate = BotLaunchGate(app)
    with TestClient(gate) as client:
        assert client.post("/bots").status_code == 201
        gate.closed = True
        refused = client.post("/bots", json={"platform": "google_meet"})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "30"
        assert "shutting down" in refused.json()["detail"]
        # Everything else still works while the bots leave (their reports, reads, other writes).
        assert client.get("/bots").status_code == 201
        assert client.post("/meetings").status_code == 201
