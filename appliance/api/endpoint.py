"""A thin declarative layer over Starlette routes.

Each endpoint declares who may call it, its body and query models and its responses. The same
declarations drive request validation (422 with a readable message), authentication and the
generated OpenAPI document, so the published schema cannot drift from what the code accepts.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appliance.api.errors import ApiError

# SQLite integers are 64-bit: a larger id names nothing, and would not even bind in a query.
MAX_ID = 2**63 - 1
# The largest JSON body any endpoint needs (a meeting's notes: 100,000 characters) with room to
# spare; a larger body is refused before it is read whole, let alone parsed.
MAX_JSON_BODY_BYTES = 1024 * 1024


class Auth(StrEnum):
    PUBLIC = "public"
    USER = "user"
    ADMIN = "admin"
    BOT = "bot"
    BOT_TAIL = "bot_tail"  # a bot token, also accepted shortly after its meeting ended
    OPENAI_USER = "openai_user"  # a user key, also as OpenAI's clients send it (Authorization: Bearer)


Handler = Callable[..., Awaitable[Response]]
Authenticator = Callable[[Request, Auth], Awaitable[Any]]


@dataclass
class EndpointSpec:
    method: str
    path: str
    summary: str
    tag: str
    auth: Auth
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | str]
    raw_body: str | None = None  # content type of a body the handler reads itself
    handler: Handler | None = field(default=None, repr=False)


def format_validation_error(exc: ValidationError, where: str) -> str:
    """One line per problem: `body.platform: Input should be ...`."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in (where, *error["loc"]) if p != "")
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def _too_large(size: str) -> ApiError:
    return ApiError(
        413, f"body: {size} is over the limit of {MAX_JSON_BODY_BYTES // 1024} KiB for a JSON request; "
        "send less (large content such as audio has endpoints of its own).",
    )


async def read_limited_body(request: Request, limit: int = MAX_JSON_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as it is known to be over `limit` bytes: at once from
    its Content-Length, or while it streams in (chunked bodies say no length)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(f"{int(declared)} bytes")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(f"more than {received} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await read_limited_body(request)
    if not raw.strip():
        raw = b"{}"
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"body: not valid JSON ({exc}); send a JSON object.") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "body: expected a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, format_validation_error(exc, "body")) from exc


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise ApiError(422, format_validation_error(exc, "query")) from exc


class Api:
    """Collects endpoint declarations; `routes()` turns them into Starlette routes."""

    def __init__(self) -> None:
        self.specs: list[EndpointSpec] = []

    def endpoint(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        auth: Auth,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        responses: dict[int, type[BaseModel] | str] | None = None,
        raw_body: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(
                EndpointSpec(
                    method, path, summary, tag, auth, body, query,
                    responses or {200: "OK"}, raw_body, handler,
                )
            )
            return handler

        return register

    def include(self, other: Api) -> None:
        self.specs.extend(other.specs)

    def routes(self, authenticate: Authenticator) -> list[Route]:
        by_path: dict[str, dict[str, EndpointSpec]] = {}
        for spec in self.specs:
            by_path.setdefault(spec.path, {})[spec.method] = spec
        return [
            Route(path, self._dispatcher(methods, authenticate), methods=list(methods))
            for path, methods in by_path.items()
        ]

    @staticmethod
    def _dispatcher(
        methods: dict[str, EndpointSpec], authenticate: Authenticator
    ) -> Callable[[Request], Awaitable[Response]]:
        async def dispatch(request: Request) -> Response:
            spec = methods[request.method if request.method != "HEAD" else "GET"]
            kwargs: dict[str, Any] = {}
            principal = await authenticate(request, spec.auth)
            for name, value in request.path_params.items():
                if isinstance(value, int) and value > MAX_ID:
                    raise ApiError(404, f"Nothing has {name} {value}.")
            if spec.auth != Auth.PUBLIC:
                kwargs[spec.auth.value] = principal
            if spec.body is not None:
                kwargs["body"] = await _parse_body(request, spec.body)
            if spec.query is not None:
                kwargs["query"] = _parse_query(request, spec.query)
            assert spec.handler is not None
            return await spec.handler(request, **kwargs)

        return dispatch
