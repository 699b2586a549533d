"""HTTP request counts and durations for /metrics, by route template and status.

Labels carry the route's template (`/meetings/{meeting_id}`), never the path a client sent, so
ids and a fuzzer's junk cannot grow the number of series; a request no route matched is counted
under `(unmatched)`, and a method outside HTTP's usual ones under `OTHER`.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The figures of this process (the API runs in `vomeet serve`'s own process).
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "vomeet_http_requests", "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"], registry=REGISTRY,
)
DURATION = Histogram(
    "vomeet_http_request_duration_seconds", "Time to answer an HTTP request (until the response starts)",
    ["method", "route"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
UNMATCHED = "(unmatched)"


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered, after routing has filled in the scope."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    # Inside a Mount the scope's root_path has grown by the mount's prefix.
    prefix: str = scope.get("root_path", "")[len(root_path):]
    if isinstance(route, Mount):  # a mounted app (static files) answered: its files are one route
        return f"{prefix}/{{path}}"
    return prefix + str(getattr(route, "path_format", getattr(route, "path", UNMATCHED)))


class HttpMetricsMiddleware:
    """Pure ASGI middleware: counts each HTTP request once its response starts (or fails)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        status: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not status:
                status.append(int(message["status"]))
                self._count(scope, root_path, status[0], started)
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if not status:  # the server's error handler answers 500 outside this middleware
                self._count(scope, root_path, 500, started)
            raise

    @staticmethod
    def _count(scope: Scope, root_path: str, status: int, started: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        route = route_template(scope, root_path)
        REQUESTS.labels(method, route, str(status)).inc()
        DURATION.labels(method, route).observe(time.perf_counter() - started)
