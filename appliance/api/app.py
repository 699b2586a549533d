"""The Starlette application: every API route, docs, and the start-up/shut-down of services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute

from appliance.api.auth import authenticate
from appliance.api.bot_audio import bot_audio_endpoint
from appliance.api.endpoint import Api
from appliance.api.errors import EXCEPTION_HANDLERS
from appliance.api.http_metrics import HttpMetricsMiddleware
from appliance.api.openapi import docs_routes
from appliance.api.routes import (
    admin,
    bots,
    calendar_oauth,
    calendars,
    devices,
    health,
    internal,
    meetings,
    metrics,
    openai_audio,
    recordings,
    scheduled,
    search,
    tls_info,
    transcripts,
    user,
)
from appliance.api.schemas import segment_json
from appliance.api.ws import websocket_endpoint
from appliance.config import Settings
from appliance.services import Services

log = logging.getLogger(__name__)
AppMount = Callable[[Starlette], None]  # an add-on's routes, given by the composition root


def public_api() -> Api:
    api = Api()
    modules = (bots, meetings, transcripts, search, recordings, user, admin, health, internal, metrics, openai_audio,
               tls_info, devices, calendars, calendar_oauth)
    for module in modules:
        api.include(module.api)
    api.include(scheduled.api)  # issue 16's scheduling
    return api


def create_app(settings: Settings, mounts: Sequence[AppMount] = ()) -> Starlette:
    """The app with every API route; `mounts` add what the core does not know (the web console,
    passed by `vomeet serve`)."""
    api = public_api()
    routes: list[BaseRoute] = [
        *api.routes(authenticate),
        WebSocketRoute("/ws", websocket_endpoint),
        WebSocketRoute("/internal/bot/audio", bot_audio_endpoint),
        *docs_routes(api),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.build(settings, segment_json)
        app.state.services = services
        await services.relay.start()  # events a crash left unrelayed go out first, in order
        recovered = await services.recordings.recover()
        if recovered:
            log.info("closed %d recording(s) left open by the previous run", recovered)
        reconciled = await services.meetings.reconcile()
        if reconciled:
            log.info("reconciled %d meeting(s) left live by the previous run", reconciled)
        services.scheduler.start()  # its first sweep does what a stopped box missed
        try:
            yield
        finally:
            await services.close()

    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    for mount in mounts:
        mount(app)
    app.add_middleware(HttpMetricsMiddleware)  # HTTP figures for /metrics, by route template
    return app
