"""Helpers for the ASR tests: running a scenario and a live server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from asr.engine import Engine, EngineSettings
from asr.models import LoadedModel
from asr.server import serve
from asr.sink import SegmentSink

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout_s: float = 120.0) -> T:
    """Run a test coroutine with an overall time limit."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))


@contextlib.asynccontextmanager
async def live_server(
    model: LoadedModel, settings: EngineSettings | None = None, sink: SegmentSink | None = None
) -> AsyncIterator[tuple[str, Engine]]:
    """A real server on a free loopback port, sharing the session's model."""
    engine = Engine(model, settings, sink)
    try:
        async with serve("127.0.0.1", 0, engine=engine) as (server, _):
            port = server.sockets[0].getsockname()[1]
            yield f"ws://127.0.0.1:{port}", engine
    finally:
        await engine.stop()
