"""HTTP figures are labelled by route template, never by the path sent: ids, static files and junk
paths each fall into one series, and a handler that raises is counted as the 500 it becomes."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from appliance.api.http_metrics import REGISTRY, HttpMetricsMiddleware


async def page(request: Request) -> Response:
    return PlainTextResponse(str(request.path_params))


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


def count(method: str, route: str, status: int) -> float:
    return REGISTRY.get_sample_value(
        "vomeet_http_requests_total", {"method": method, "route": route, "status": str(status)}
    ) or 0.0


def test_requests_are_counted_by_template_and_status(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body {}")
    inner = [Route("/{share_id}.txt", page)]
    app = Starlette(routes=[
        Route("/t/meetings/{meeting_id:int}", page),
        Route("/t/broken", broken),
        Mount("/t/static", StaticFiles(directory=tmp_path)),
        Mount("/t/public", routes=inner),
    ])
    app.add_middleware(HttpMetricsMiddleware)
    before = {
        key: count(*key) for key in (
            ("GET", "/t/meetings/{meeting_id}", 200), ("GET", "/t/static/{path}", 200),
            ("GET", "/t/static/{path}", 404), ("GET", "(unmatched)", 404), ("OTHER", "/t/broken", 405),
            ("GET", "/t/broken", 500), ("GET", "/t/public/{share_id}.txt", 200),
        )
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        for meeting_id in (1, 22, 333):
            assert client.get(f"/t/meetings/{meeting_id}").status_code == 200
        assert client.get("/t/static/app.css").status_code == 200
        assert client.get("/t/static/missing.js").status_code == 404
        assert client.get("/no/such/path/42").status_code == 404
        assert client.request("BREW", "/t/broken").status_code == 405
        assert client.get("/t/broken").status_code == 500
        assert client.get("/t/public/abc.txt").status_code == 200
    grown = {key: count(*key) - value for key, value in before.items()}
    assert grown == {
        ("GET", "/t/meetings/{meeting_id}", 200): 3, ("GET", "/t/static/{path}", 200): 1,
        ("GET", "/t/static/{path}", 404): 1, ("GET", "(unmatched)", 404): 1, ("OTHER", "/t/broken", 405): 1,
        ("GET", "/t/broken", 500): 1, ("GET", "/t/public/{share_id}.txt", 200): 1,
    }
    labels = {sample.labels.get("route") for family in REGISTRY.collect() for sample in family.samples}
    assert not any(route and ("22" in route or "missing" in route or "abc" in route) for route in labels)
    assert (REGISTRY.get_sample_value(
        "vomeet_http_request_duration_seconds_count", {"method": "GET", "route": "/t/meetings/{meeting_id}"}
    ) or 0) >= 3
