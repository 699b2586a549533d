"""/calendars: a user's calendar connections (issue 16). Secrets go in, never out: an answer
shows a connection's host (and login name), never its feed address or password."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.calendars import service
from appliance.calendars.service import ConnectionDraft, ConnectionRefused
from appliance.db.models import CalendarConnection, User, utcnow
from appliance.scheduling.rules import Rules, RulesError
from appliance.services import Services

api = Api()
TAG = "calendars"


class AutoJoinRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["all", "organised", "accepted", "keyword", "none"] = "all"
    keywords: list[str] = Field(default_factory=list, max_length=50)
    skip_private: bool = True


class CalendarCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: Literal["ics", "caldav"]
    name: str | None = Field(None, min_length=1, max_length=200)
    url: str = Field(max_length=2000, description="ics: the feed's (secret) address; caldav: the server or a calendar")
    username: str | None = Field(None, max_length=320, description="caldav: the login")
    password: str | None = Field(None, max_length=1000, description="caldav: the password (an app password)")
    rules: AutoJoinRules | None = None


class CalendarPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(None, min_length=1, max_length=200)
    rules: AutoJoinRules | None = None


class CalendarOut(BaseModel):
    id: int
    kind: str
    name: str
    hint: str = Field(description="what may be shown of the secret: the host (and login)")
    settings: dict[str, Any]
    rules: dict[str, Any]
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    retry_after_at: datetime | None
    upcoming_events: int
    created_at: datetime


class CalendarList(BaseModel):
    calendars: list[CalendarOut]


class CalendarTestResult(BaseModel):
    ok: bool
    error: str | None


async def _followed(services: Services) -> None:
    """After a change of stored events: their events go out, and the scheduler looks again now
    (a meeting starting within its lead time gets its bot at once, not at the next minute)."""
    await services.relay.flush()
    services.scheduler.wake()


def _view(connection: CalendarConnection, upcoming: int) -> CalendarOut:
    return CalendarOut(
        id=connection.id, kind=connection.kind, name=connection.name, hint=connection.secret_hint,
        settings=dict(connection.settings), rules=dict(connection.rules), last_sync_at=connection.last_sync_at,
        next_sync_at=connection.next_sync_at, last_error=connection.last_error,
        consecutive_failures=connection.consecutive_failures, retry_after_at=connection.retry_after_at,
        upcoming_events=upcoming, created_at=connection.created_at,
    )


def _rules(rules: AutoJoinRules | None) -> dict[str, Any]:
    if rules is None:
        return {}
    try:
        return Rules.parse(rules.model_dump()).as_json()
    except RulesError as exc:
        raise ApiError(422, f"body.rules: {exc}") from None


def _draft(body: CalendarCreate) -> ConnectionDraft:
    rules = _rules(body.rules)
    if body.kind == "ics":
        return service.ics_draft(body.url, body.name, rules)
    if not body.username or not body.password:
        raise ApiError(422, "body: a CalDAV connection needs `username` and `password`.")
    return service.caldav_draft(body.url, body.username, body.password, body.name, rules)


async def _owned(session: AsyncSession, user: User, connection_id: int) -> CalendarConnection:
    connection = await service.owned(session, user, connection_id)
    if connection is None:
        raise ApiError(404, f"You have no calendar connection {connection_id}.")
    return connection


async def _one(request: Request, user: User, connection_id: int) -> CalendarOut:
    async with services_of(request).db.session() as session:
        connection = await _owned(session, user, connection_id)
        counts = await service.event_counts(session, [connection.id])
    return _view(connection, counts.get(connection.id, 0))


@api.endpoint(
    "POST", "/calendars", summary="Connect a calendar (read once to check it, then synced on schedule)",
    tag=TAG, auth=Auth.USER, body=CalendarCreate,
    responses={201: CalendarOut, 422: "the calendar cannot be read, or the fields are wrong"},
)
async def create_calendar(request: Request, user: User, body: CalendarCreate) -> Response:
    services = services_of(request)
    try:
        outcome = await service.create(services, user, _draft(body), utcnow())
    except ConnectionRefused as exc:
        raise ApiError(422, str(exc)) from None
    await _followed(services)
    return ModelResponse(await _one(request, user, outcome.connection_id), status_code=201)


@api.endpoint(
    "GET", "/calendars", summary="The user's calendar connections with their sync state", tag=TAG,
    auth=Auth.USER, responses={200: CalendarList},
)
async def list_calendars(request: Request, user: User) -> Response:
    async with services_of(request).db.session() as session:
        rows = list(await session.scalars(
            select(CalendarConnection).where(CalendarConnection.user_id == user.id).order_by(CalendarConnection.id)))
        counts = await service.event_counts(session, [r.id for r in rows])
    return ModelResponse(CalendarList(calendars=[_view(r, counts.get(r.id, 0)) for r in rows]))


@api.endpoint(
    "GET", "/calendars/{connection_id:int}", summary="One calendar connection", tag=TAG, auth=Auth.USER,
    responses={200: CalendarOut, 404: "not one of the user's connections"},
)
async def get_calendar(request: Request, user: User) -> Response:
    return ModelResponse(await _one(request, user, request.path_params["connection_id"]))


@api.endpoint(
    "POST", "/calendars/{connection_id:int}/test", summary="Read the calendar now without storing anything",
    tag=TAG, auth=Auth.USER, responses={200: CalendarTestResult, 404: "not one of the user's connections"},
)
async def test_calendar(request: Request, user: User) -> Response:
    found = await _one(request, user, request.path_params["connection_id"])
    error = await service.test(services_of(request), found.id, utcnow())
    return ModelResponse(CalendarTestResult(ok=error is None, error=error))


@api.endpoint(
    "POST", "/calendars/{connection_id:int}/sync", summary="Sync the calendar now", tag=TAG, auth=Auth.USER,
    responses={200: CalendarOut, 404: "not one of the user's connections",
               429: "the provider asked the box to wait (Retry-After)"},
)
async def sync_calendar(request: Request, user: User) -> Response:
    services = services_of(request)
    found = await _one(request, user, request.path_params["connection_id"])
    now = utcnow()
    if found.retry_after_at is not None and found.retry_after_at > now:
        wait = int((found.retry_after_at - now).total_seconds()) + 1
        raise ApiError(429, f"The calendar's provider asked to wait until {found.retry_after_at.isoformat()}.",
                       headers={"Retry-After": str(wait)})
    await service.sync_now(services, found.id, now)
    await _followed(services)
    return ModelResponse(await _one(request, user, found.id))


@api.endpoint(
    "PATCH", "/calendars/{connection_id:int}", summary="Rename a connection or change its auto-join rules",
    tag=TAG, auth=Auth.USER, body=CalendarPatch,
    responses={200: CalendarOut, 404: "not one of the user's connections", 422: "invalid rules"},
)
async def patch_calendar(request: Request, user: User, body: CalendarPatch) -> Response:
    services = services_of(request)
    connection_id = request.path_params["connection_id"]
    async with services.db.session() as session:
        connection = await _owned(session, user, connection_id)
        if body.name is not None:
            connection.name = body.name
        if body.rules is not None:
            await service.set_rules(session, services.settings, connection, _rules(body.rules), utcnow())
        await session.commit()
    await _followed(services)
    return ModelResponse(await _one(request, user, connection_id))


@api.endpoint(
    "DELETE", "/calendars/{connection_id:int}",
    summary="Disconnect a calendar: its events go, the bots only it scheduled are cancelled", tag=TAG,
    auth=Auth.USER, responses={204: "removed", 404: "not one of the user's connections"},
)
async def delete_calendar(request: Request, user: User) -> Response:
    services = services_of(request)
    connection_id = request.path_params["connection_id"]
    async with services.db.session() as session:
        connection = await _owned(session, user, connection_id)
        await service.remove(session, services.settings, connection, utcnow())
    await _followed(services)
    return Response(status_code=204)
