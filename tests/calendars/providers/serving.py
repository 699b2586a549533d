"""Serving a test double (a Starlette app) with uvicorn in a thread of the test process, on a
free loopback port; and what the two calendar doubles keep alike: events per user and the order
they changed in."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.conftest import free_port, wait_until


class Served:
    def __init__(self, app: ASGIApp, name: str) -> None:
        self.port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True, name=name)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Served:
        self._thread.start()
        wait_until(lambda: self._server.started or not self._thread.is_alive(), 20, 0.05, "the test double to start")
        assert self._thread.is_alive(), "the test double's server stopped at start"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class Double:
    """A test double served on loopback: a subclass names its routes."""

    served: Served | None = None

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def start(self) -> Self:
        self.served = Served(Starlette(routes=self.routes()), type(self).__name__).start()
        return self

    def stop(self) -> None:
        if self.served:
            self.served.stop()

    @property
    def base_url(self) -> str:
        assert self.served, "the double is not started"
        return self.served.base_url


@dataclass
class CalendarDouble(Double):
    """A calendar service's double: each user's events as the API's JSON, and `seq`, the number of
    the last change, which its sync (Google) or delta (Microsoft) tokens count from."""

    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # user -> event id -> JSON
    changed: dict[tuple[str, str], int] = field(default_factory=dict)  # (user, event id) -> its last change
    seq: int = 0

    def put(self, user: str, event: dict[str, Any]) -> None:
        """Create or change an event on `user`'s calendar."""
        self.seq += 1
        self.events.setdefault(user, {})[event["id"]] = event
        self.changed[(user, event["id"])] = self.seq
