"""Google and Microsoft calendar sign-in, and organisation-wide calendar access (issue 16).

A box on a LAN has no public URL for a provider to redirect to, so: Google's code is obtained by
the user's own machine (the desktop client's loopback flow with PKCE) and handed over here;
Microsoft uses the device flow, started here and polled by this process. docs/calendars.md says
why. Answers are the connections' usual views (appliance/api/routes/calendars.py): no secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.api.routes.calendars import AutoJoinRules, CalendarList, CalendarOut, _one, _rules, _view
from appliance.calendars import oauth, service
from appliance.calendars.oauth_connections import (
    DEVICE_FLOWS,
    DeviceFlow,
    create_organisation_wide,
    google_client,
    google_draft,
    google_workspace_draft,
    microsoft_app_draft,
)
from appliance.calendars.service import ConnectionRefused
from appliance.db.models import CalendarConnection, User, utcnow

api = Api()
TAG = "calendars"


class GoogleClientOut(BaseModel):
    client_id: str
    client_secret: str | None = Field(description="an installed-app client's secret, which Google does not "
                                                  "treat as confidential; the loopback flow needs it")
    authorization_url: str
    scope: str


class GoogleHandover(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(None, max_length=2000, description="the authorisation code the loopback redirect got")
    code_verifier: str | None = Field(None, min_length=43, max_length=128)
    redirect_uri: str | None = Field(None, max_length=500, description="the loopback redirect URI used")
    refresh_token: str | None = Field(None, max_length=2000, description="instead of a code: a refresh token "
                                                                         "issued to the box's client")
    name: str | None = Field(None, min_length=1, max_length=200)
    rules: AutoJoinRules | None = None


class DeviceStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    rules: AutoJoinRules | None = None


class DeviceFlowOut(BaseModel):
    id: str
    status: Literal["pending", "connected", "failed"]
    user_code: str = Field(description="what the person types at verification_uri")
    verification_uri: str
    expires_at: float = Field(description="Unix time")
    error: str | None
    calendar_id: int | None = Field(description="the connection made, once connected")


class OrganisationCalendarCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["google", "microsoft"]
    name: str | None = Field(None, min_length=1, max_length=200)
    service_account_key: str | None = Field(None, max_length=20000, description="google: the key file's JSON")
    tenant: str | None = Field(None, max_length=200, description="microsoft: the tenant id or domain")
    client_id: str | None = Field(None, max_length=200, description="microsoft: the app's client id")
    client_secret: str | None = Field(None, max_length=2000, description="microsoft: the app's secret")
    domain: str | None = Field(None, max_length=253, description="read only users whose email is in this domain")
    rules: AutoJoinRules | None = None


@contextmanager
def _refused_as_422() -> Iterator[None]:
    """What the box refuses to connect (a code Google refused, fields missing, a calendar it cannot
    read) is a 422 in the refusal's own words."""
    try:
        yield
    except ConnectionRefused as exc:
        raise ApiError(422, str(exc)) from None


def _flow_view(flow: DeviceFlow) -> DeviceFlowOut:
    return DeviceFlowOut(id=flow.id, status=flow.status, user_code=flow.user_code,
                         verification_uri=flow.verification_uri, expires_at=flow.expires_at, error=flow.error,
                         calendar_id=flow.connection_id)


@api.endpoint(
    "GET", "/calendars/google/client", summary="The OAuth client a user's machine signs in to Google with",
    tag=TAG, auth=Auth.USER, responses={200: GoogleClientOut, 422: "no Google client is configured"},
)
async def google_client_info(request: Request, user: User) -> Response:
    settings = services_of(request).settings
    with _refused_as_422():
        client_id, client_secret = google_client(settings)
    return ModelResponse(GoogleClientOut(client_id=client_id, client_secret=client_secret,
                                         authorization_url=settings.calendar_google_auth_url,
                                         scope=oauth.GOOGLE_CALENDAR_SCOPE))


@api.endpoint(
    "POST", "/calendars/google", summary="Connect a Google calendar with the code (or refresh token) the user's "
    "machine obtained", tag=TAG, auth=Auth.USER, body=GoogleHandover,
    responses={201: CalendarOut, 422: "Google refused the code, or the calendar cannot be read"},
)
async def connect_google(request: Request, user: User, body: GoogleHandover) -> Response:
    services = services_of(request)
    with _refused_as_422():
        draft = await google_draft(services.settings, code=body.code, code_verifier=body.code_verifier,
                                   redirect_uri=body.redirect_uri, refresh_token=body.refresh_token,
                                   name=body.name, rules=_rules(body.rules))
        outcome = await service.create(services, user, draft, utcnow())
    await services.relay.flush()
    return ModelResponse(await _one(request, user, outcome.connection_id), status_code=201)


@api.endpoint(
    "POST", "/calendars/microsoft/device", summary="Start a Microsoft 365 sign-in: a code to enter at "
    "Microsoft's page on any device", tag=TAG, auth=Auth.USER, body=DeviceStart,
    responses={201: DeviceFlowOut, 422: "no Microsoft app is registered, or Microsoft refused"},
)
async def start_microsoft(request: Request, user: User, body: DeviceStart) -> Response:
    services = services_of(request)
    with _refused_as_422():
        flow = await DEVICE_FLOWS.start(services, user, body.name, _rules(body.rules), services.relay.flush)
    return ModelResponse(_flow_view(flow), status_code=201)


@api.endpoint(
    "GET", "/calendars/microsoft/device/{flow_id}", summary="Where a Microsoft sign-in stands", tag=TAG,
    auth=Auth.USER, responses={200: DeviceFlowOut, 404: "not one of the user's sign-ins (or the box restarted)"},
)
async def microsoft_flow(request: Request, user: User) -> Response:
    flow = DEVICE_FLOWS.get(str(request.path_params["flow_id"]), user)
    if flow is None:
        raise ApiError(404, "No such sign-in: it ended, or the box restarted. Start again.")
    return ModelResponse(_flow_view(flow))


@api.endpoint(
    "POST", "/admin/calendars", summary="Give the box read access to every user's calendar (organisation-wide)",
    tag=TAG, auth=Auth.ADMIN, body=OrganisationCalendarCreate,
    responses={201: CalendarOut, 422: "the fields are wrong or the calendars cannot be read"},
)
async def create_organisation_calendar(request: Request, admin: bool, body: OrganisationCalendarCreate) -> Response:
    services = services_of(request)
    rules = _rules(body.rules)
    with _refused_as_422():
        if body.kind == "google":
            if not body.service_account_key:
                raise ConnectionRefused("a Google Workspace connection needs `service_account_key`")
            draft = google_workspace_draft(body.service_account_key, body.domain, body.name, rules)
        else:
            if not (body.tenant and body.client_id and body.client_secret):
                raise ConnectionRefused("a Microsoft app connection needs `tenant`, `client_id` and `client_secret`")
            draft = microsoft_app_draft(body.tenant, body.client_id, body.client_secret, body.domain, body.name, rules)
        async with services.db.session() as session:
            emails = list(await session.scalars(select(User.email).order_by(User.id)))
        outcome = await create_organisation_wide(services, draft, utcnow(), emails)
    await services.relay.flush()
    return ModelResponse(await _organisation_view(request, outcome.connection_id), status_code=201)


async def _organisation_view(request: Request, connection_id: int) -> CalendarOut:
    async with services_of(request).db.session() as session:
        connection = await session.get(CalendarConnection, connection_id)
        if connection is None or connection.user_id is not None:
            raise ApiError(404, f"There is no organisation-wide calendar connection {connection_id}.")
        counts = await service.event_counts(session, [connection.id])
    return _view(connection, counts.get(connection.id, 0))


@api.endpoint(
    "GET", "/admin/calendars", summary="The organisation-wide calendar connections", tag=TAG, auth=Auth.ADMIN,
    responses={200: CalendarList},
)
async def list_organisation_calendars(request: Request, admin: bool) -> Response:
    async with services_of(request).db.session() as session:
        rows = list(await session.scalars(select(CalendarConnection).where(
            CalendarConnection.user_id.is_(None)).order_by(CalendarConnection.id)))
        counts = await service.event_counts(session, [r.id for r in rows])
    return ModelResponse(CalendarList(calendars=[_view(r, counts.get(r.id, 0)) for r in rows]))


@api.endpoint(
    "DELETE", "/admin/calendars/{connection_id:int}", summary="Remove organisation-wide calendar access", tag=TAG,
    auth=Auth.ADMIN, responses={204: "removed", 404: "no such organisation-wide connection"},
)
async def delete_organisation_calendar(request: Request, admin: bool) -> Response:
    services = services_of(request)
    found = await _organisation_view(request, request.path_params["connection_id"])
    async with services.db.session() as session:
        connection = await session.get(CalendarConnection, found.id)
        if connection is not None:
            await service.remove(session, services.settings, connection, utcnow())
    await services.relay.flush()
    return Response(status_code=204)
