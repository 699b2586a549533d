"""Who is calling: a user (X-API-Key), an administrator (X-Admin-API-Key) or a bot (bearer token)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from appliance import accounts
from appliance.api.endpoint import Auth
from appliance.api.errors import ApiError
from appliance.db.models import Meeting, utcnow
from appliance.lifecycle import TERMINAL_STATES
from appliance.live.sockets import CLOSE_REVOKED, Opener
from appliance.security import hash_secret
from appliance.services import Services

TERMINAL = [s.value for s in TERMINAL_STATES]
# After its meeting ends, a bot token may still deliver the transcript's tail for this long
# (the ASR flushes the last words after the bot has reported its end), and nothing else.
BOT_TOKEN_TRAILING = timedelta(minutes=10)
# A WebSocket (/ws, /internal/bot/audio) opened with a key or token that is not valid, or no
# longer: one code for both, and the same as a credential revoked while open.
CLOSE_BAD_CREDENTIAL = CLOSE_REVOKED


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services  # starlette's app.state is untyped
    return services


QUERY_KEY = "api_key"
# /ws subprotocols: a client offers `vomeet.v1` and `vomeet.key.<API key>`; only the first,
# which holds no secret, is echoed back.
WS_PROTOCOL = "vomeet.v1"
WS_KEY_PROTOCOL_PREFIX = "vomeet.key."


def user_key_of(connection: HTTPConnection) -> str | None:
    """A REST call's API key: the X-API-Key header, never the URL. A key in a URL ends up in
    access logs, proxy logs and browser history, so it is refused rather than read."""
    if QUERY_KEY in connection.query_params:
        raise ApiError(
            401,
            "Do not put the API key in the URL (?api_key=): send it in the X-API-Key header. "
            "Only the WebSocket /ws takes it in the query, for browsers.",
        )
    return connection.headers.get("x-api-key")


def websocket_key_of(websocket: HTTPConnection) -> str | None:
    """The API key of a /ws client: the X-API-Key header, a `vomeet.key.<key>` subprotocol, or,
    for a browser that can set neither, `?api_key=` (the logs redact it)."""
    header = websocket.headers.get("x-api-key")
    if header:
        return header
    protocols: list[str] = websocket.scope.get("subprotocols", [])
    for protocol in protocols:
        if protocol.startswith(WS_KEY_PROTOCOL_PREFIX):
            return protocol.removeprefix(WS_KEY_PROTOCOL_PREFIX)
    return websocket.query_params.get(QUERY_KEY)


def websocket_protocol_of(websocket: HTTPConnection) -> str | None:
    """The subprotocol to answer with: `vomeet.v1` when offered (a browser that offered
    subprotocols fails a handshake that selects none), never the one carrying the key."""
    return WS_PROTOCOL if WS_PROTOCOL in websocket.scope.get("subprotocols", []) else None


def _client_host(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"


def _bearer(connection: HTTPConnection) -> str:
    header = connection.headers.get("authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""


async def authenticate(connection: HTTPConnection, auth: Auth) -> Any:
    if auth == Auth.PUBLIC:
        return None
    services = services_of(connection)
    async with services.db.session() as session:
        if auth in (Auth.USER, Auth.OPENAI_USER):
            key = user_key_of(connection) or (_bearer(connection) if auth == Auth.OPENAI_USER else None)
            if not key:
                if auth == Auth.OPENAI_USER:
                    raise ApiError(
                        401, "Missing API key: send it as `Authorization: Bearer <key>` or in the X-API-Key header."
                    )
                raise ApiError(401, "Missing API key: send it in the X-API-Key header.")
            found = await accounts.token_and_user(session, key)
            if found is None:
                revoked = await services.devices.paired.revoked_message(key)
                raise ApiError(401, revoked or "Invalid API key (unknown or revoked).")
            await services.devices.paired.note_use(found[0].id, _client_host(connection))
            return found[1]
        if auth == Auth.ADMIN:
            # Bearer too, so that Prometheus' `authorization` setting can scrape /metrics.
            key = connection.headers.get("x-admin-api-key") or _bearer(connection)
            if not key:
                raise ApiError(401, "Missing admin key: send it in the X-Admin-API-Key header.")
            if not await accounts.is_admin_key(session, key):
                raise ApiError(401, "Invalid admin key.")
            return True
        # A bot token is scoped to one meeting and valid until that meeting ends.
        token = _bearer(connection)
        if not token:
            raise ApiError(401, "Missing bot token: send `Authorization: Bearer <token>`.")
        meeting = await session.scalar(
            select(Meeting).where(Meeting.bot_token_hash == hash_secret(token))
        )
        if meeting is None:
            raise ApiError(401, "Invalid bot token.")
        trailing_ok = (
            auth == Auth.BOT_TAIL
            and meeting.end_time is not None
            and utcnow() - meeting.end_time <= BOT_TOKEN_TRAILING
        )
        if meeting.status in TERMINAL and not trailing_ok:
            raise ApiError(401, f"This bot's meeting has ended ({meeting.status}); its token is no longer valid.")
        return meeting


async def authenticate_websocket(websocket: WebSocket) -> Opener | None:
    """Who opens a /ws socket: the owner of the API key presented, else the web console's
    sign-in cookie (when the console is mounted); None when neither is valid."""
    key = websocket_key_of(websocket)
    if key:
        services = services_of(websocket)
        async with services.db.session() as session:
            found = await accounts.token_and_user(session, key)
        if found is None:
            return None
        await services.devices.paired.note_use(found[0].id, _client_host(websocket))
        return Opener(found[1].id, token_id=found[0].id)
    session_user = getattr(websocket.app.state, "ws_session_user", None)
    return None if session_user is None else await session_user(websocket)
