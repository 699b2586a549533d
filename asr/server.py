"""WebSocket server speaking the WhisperLive protocol (port 9090 by default)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websocket_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from asr import protocol
from asr.config_frame import ConfigError, parse_config
from asr.engine import Engine, EngineSettings
from asr.models import load_model
from asr.sink import SegmentSink
from asr.stream import Stream

log = logging.getLogger(__name__)

CONFIG_TIMEOUT_S = 30.0
FLUSH_TIMEOUT_S = 60.0  # END_OF_AUDIO: longest wait for the tail's final pass

# Optional check of the config (e.g. the bot token) by the appliance; returns an error or None.
Authorizer = Callable[[protocol.StreamConfig], Awaitable[str | None]]


class AsrServer:
    """Connection handling; the engine does the transcription."""

    def __init__(self, engine: Engine, authorize: Authorizer | None = None) -> None:
        self.engine = engine
        self.authorize = authorize
        self.accepted = 0
        self.refused = 0
        self._flushing: set[asyncio.Task[None]] = set()

    def stats(self) -> dict[str, object]:
        """Load figures for the appliance's readiness check and console (GET /stats)."""
        decision = self.engine.admission()
        return {
            "streams": len(self.engine.streams),
            "flushing": len(self._flushing),  # closed streams whose segments are still being delivered
            "lag_s": round(self.engine.lag_s(), 3),  # completed segments
            "pass_lag_s": round(self.engine.pass_lag_s(), 3),  # any pass, partials included
            "admitting": decision.admit,
            "wait_minutes": round(decision.wait_minutes, 2),
            # completed segments' share of the workers
            "utilisation": round(decision.load_s_per_s / self.engine.gate.workers, 3),
            "utilisation_max": limit if math.isfinite(limit := self.engine.gate.settings.utilisation_max) else None,
            "accepted": self.accepted,
            "refused": self.refused,
            "model": self.engine.model.describe(),
            "passes": self.engine.passes,
            "fallbacks": self.engine.fallbacks,  # passes decoded a second time (asr.decoder.Fallback)
        }

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Plain HTTP beside the WebSocket: `GET /stats` answers the load figures as JSON."""
        if request.path.split("?", 1)[0] != "/stats":
            return None
        response = connection.respond(200, json.dumps(self.stats()))
        response.headers["Content-Type"] = "application/json"
        return response

    async def handle(self, websocket: ServerConnection) -> None:
        try:
            raw = await asyncio.wait_for(websocket.recv(), CONFIG_TIMEOUT_S)
        except (TimeoutError, ConnectionClosed):
            return
        try:
            config = parse_config(raw, self.engine.decoder.multilingual)
        except ConfigError as error:
            await _send_and_close(websocket, protocol.error(_uid_of(raw), str(error)))
            return
        if self.authorize and (denied := await self.authorize(config)):
            await _send_and_close(websocket, protocol.error(config.uid, denied))
            return
        decision = self.engine.admission()
        if not decision.admit:
            self.refused += 1
            log.info("stream %s told to wait %.1f min: %s", config.uid, decision.wait_minutes, decision.reason)
            await _send_and_close(websocket, protocol.wait(config.uid, decision.wait_minutes))
            return
        stream = self.engine.open(config)
        self.accepted += 1
        sender = asyncio.create_task(self._send_updates(websocket, stream))
        try:
            await websocket.send(protocol.ready(config.uid))
            if await self._receive_audio(websocket, stream):
                await asyncio.wait_for(sender, FLUSH_TIMEOUT_S)
                await websocket.send(protocol.disconnect(config.uid))
                await websocket.close()
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            sender.cancel()
            # Counted as `flushing` in stats from this moment: the appliance's stop order waits
            # for streams + flushing to reach 0, so there must be no instant between the two.
            flushing = asyncio.create_task(self._close(stream))
            self._flushing.add(flushing)
            flushing.add_done_callback(self._flushing.discard)

    async def _close(self, stream: Stream) -> None:
        await self.engine.close(stream)
        # Let the sink deliver what the stream still owes, then forget it.
        await self.engine.sink.on_stream_closed(stream.info)

    async def _receive_audio(self, websocket: ServerConnection, stream: Stream) -> bool:
        """Feed audio to the engine until END_OF_AUDIO (True) or the client leaves (False)."""
        async for message in websocket:
            if message in (protocol.END_OF_AUDIO, protocol.END_OF_AUDIO.decode()):
                self.engine.end(stream)
                return True
            if isinstance(message, str):
                continue  # WhisperLive clients send no other text frames; ignore unknown ones
            if len(message) % 4:
                reason = "binary frames must hold float32 LE samples (length a multiple of 4)"
                await websocket.send(protocol.error(stream.config.uid, reason))
                return False
            self.engine.feed(stream, np.frombuffer(message, dtype="<f4").astype(np.float32))
        return False

    async def _send_updates(self, websocket: ServerConnection, stream: Stream) -> None:
        uid = stream.config.uid
        while (update := await stream.outbox.get()) is not None:
            # The sink first: a client that saw a completed segment may drop its audio, so the
            # sink (whose spool makes it durable) must have it before the client hears of it.
            if update.changed:
                try:
                    await self.engine.sink.on_segments(stream.info, update.changed)
                except Exception:  # the pipeline's failure must not end the client's stream
                    log.exception("segment sink failed for stream %s", uid)
            if update.language:
                await websocket.send(protocol.language(uid, *update.language))
            if update.refresh:
                await websocket.send(protocol.segments(uid, update.visible))


def _uid_of(raw: str | bytes) -> str | None:
    with contextlib.suppress(Exception):
        import json

        uid = json.loads(raw).get("uid")
        return uid if isinstance(uid, str) else None
    return None


async def _send_and_close(websocket: ServerConnection, message: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(message)
        await websocket.close()


@contextlib.asynccontextmanager
async def serve(
    host: str = "0.0.0.0",
    port: int = 9090,
    model: str | None = None,
    *,
    engine: Engine | None = None,
    settings: EngineSettings | None = None,
    sink: SegmentSink | None = None,
    authorize: Authorizer | None = None,
) -> AsyncIterator[tuple[Server, Engine]]:
    """Run the server while the context is open; yields the websockets server (its bound port
    is in `server.sockets`) and the engine. Pass `engine` to share one already loaded."""
    own_engine = engine is None
    if engine is None:
        engine = Engine(await asyncio.to_thread(load_model, model), settings, sink)
    engine.start()
    await engine.sink.start()  # a durable sink replays what an earlier run still owes
    app = AsrServer(engine, authorize)
    try:
        async with websocket_serve(
            app.handle, host, port, max_size=2**22, process_request=app.process_request
        ) as server:
            yield server, engine
    finally:
        if own_engine:
            await engine.stop()


def main(
    host: str = "0.0.0.0",
    port: int = 9090,
    model: str | None = None,
    *,
    settings: EngineSettings | None = None,
    sink: SegmentSink | None = None,
    authorize: Authorizer | None = None,
) -> None:
    """Blocking entry point for `vomeet asr`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def forever() -> None:
        async with serve(host, port, model, settings=settings, sink=sink, authorize=authorize) as (_, engine):
            log.info("ASR server on ws://%s:%d (%s)", host, port, engine.model.describe())
            await asyncio.Future()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forever())
