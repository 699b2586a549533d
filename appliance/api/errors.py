"""Errors returned to API clients as `{"detail": "..."}` with the right status code (under /v1/,
the OpenAI-compatible routes, in OpenAI's shape instead, which its clients read)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appliance.errors import (
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    OverLimit,
    Unavailable,
)
from asr.openai_api import OpenAIError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


# The one place a domain refusal becomes a status code (appliance/errors.py).
DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    OverLimit: 429,
    Unavailable: 503,
}


def as_api_error(exc: DomainError) -> ApiError:
    """The HTTP answer to a domain refusal: its status, its sentence, Retry-After when it has one."""
    status = next(code for kind, code in DOMAIN_STATUS.items() if isinstance(exc, kind))
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Unavailable) else None
    return ApiError(status, exc.detail, headers=headers)


OPENAI_PREFIX = "/v1/"


def _answer(request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    if request.url.path.startswith(OPENAI_PREFIX):
        kind = "invalid_request_error" if status < 500 else "server_error"
        return _openai(OpenAIError(status, detail, None, "invalid_api_key" if status == 401 else None, kind, headers))
    return JSONResponse({"detail": detail}, status, headers=headers)


def _openai(exc: OpenAIError) -> Response:
    return JSONResponse(exc.body(), exc.status, headers=exc.headers)


async def openai_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpenAIError)
    return _openai(exc)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _answer(request, exc.status_code, exc.detail, exc.headers)


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return await api_error_handler(request, as_api_error(exc))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 404:
        detail = "No such endpoint; see /docs for the API."
    elif exc.status_code == 405:
        detail = "Method not allowed on this endpoint; see /docs for the API."
    return _answer(request, exc.status_code, detail, exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(request, 500, "Internal error; the appliance log has the details.")


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    DomainError: domain_error_handler,
    OpenAIError: openai_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
