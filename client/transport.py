"""One place that turns HTTP failures into `ClientError`s (used by `client.pairing` and `client.api`).

A refused handshake is a changed certificate (the pin is the only trust anchor), another
connection failure is an unreachable appliance, and an error status keeps the appliance's
`detail`, which the appliance words for people.
"""

from __future__ import annotations

from typing import Any

import httpx

from client.errors import ClientError, ErrorKind
from client.trust import certificate_changed, is_verification_failure


def send(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """`http.request(...)`, with connection failures raised as `ClientError`s."""
    try:
        return http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        url = http.base_url
        if is_verification_failure(exc):
            raise certificate_changed(url.host, url.port or 443) from exc
        raise ClientError(
            ErrorKind.UNREACHABLE,
            f"the appliance at {url.host}:{url.port} is unreachable ({exc.__class__.__name__}); "
            "check that it is on and that this computer is on its network",
        ) from exc


def detail_of(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else f"HTTP {answer.status_code} {answer.reason_phrase}"


def json_of(answer: httpx.Response, expected: int, doing: str) -> dict[str, Any]:
    """The answer's JSON object, or a `ClientError` saying what `doing` ran into."""
    if answer.status_code != expected:
        raise ClientError(ErrorKind.REFUSED, f"{doing} failed: {detail_of(answer)}", answer.status_code)
    try:
        body = answer.json()
    except ValueError as exc:
        raise ClientError(ErrorKind.PROTOCOL, f"{doing}: the appliance's answer is not JSON") from exc
    if not isinstance(body, dict):
        raise ClientError(ErrorKind.PROTOCOL, f"{doing}: the appliance's answer is not a JSON object")
    return body


def too_many(answer: httpx.Response, what: str) -> ClientError:
    wait = answer.headers.get("Retry-After", "a few")
    return ClientError(ErrorKind.REFUSED, f"too many {what}: wait {wait} seconds and try again", 429)
