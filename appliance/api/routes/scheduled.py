"""Scheduled meetings: the upcoming list with each decision, overrides and moves, cancelling
(issue 16; POST /bots with `join_at` makes one, appliance/api/routes/bots.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import MAX_ID, Api, Auth
from appliance.api.responses import ModelResponse
from appliance.api.schemas import Lenient, Out
from appliance.db.models import ScheduledMeeting, User, utcnow
from appliance.scheduling.store import STATES
from appliance.scheduling.timing import launch_at

api = Api()
TAG = "scheduled"
State = Literal["scheduled", "launched", "skipped", "cancelled", "failed"]
assert set(State.__args__) == set(STATES)  # type: ignore[attr-defined]


class ScheduledMeetingOut(Out):
    id: int
    platform: str
    native_meeting_id: str
    meeting_url: str
    title: str | None
    source: str = Field(
        description="`api` (POST /bots with join_at) or the calendar's kind: ics, caldav, google, microsoft"
    )
    state: State
    start_at: datetime
    end_at: datetime | None
    join_at: datetime = Field(description="when the bot starts: join_at asked for, or the start minus the lead time")
    auto_join: bool
    reason: str | None = Field(description="why it joins or not: `rule: accepted`, `not accepted`, `private`, "
                               "`override: skip`, `started 12 min ago`, ...")
    error: str | None = Field(description="the last launch problem (the box full, a bad link)")
    override: Literal["join", "skip"] | None = Field(description="the caller's own per-event choice")
    bot_owner: bool = Field(description="the bot runs as the caller (else as another user with this meeting)")
    meeting_id: int | None = Field(description="the bot run's meeting, once launched")
    created_at: datetime


class ScheduledList(Out):
    scheduled: list[ScheduledMeetingOut]


class ScheduledQuery(Lenient):
    state: State | None = None
    include_past: bool = Field(False, description="also those that ended or were skipped long ago")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_ID)


class ScheduledPatch(Lenient):
    override: Literal["join", "skip"] | None = Field(None, description="`join`, `skip`, or null to follow the rules")
    join_at: AwareDatetime | None = Field(None, description="a new start for the bot (ISO 8601 with offset)")


async def scheduled_view(request: Request, user: User, scheduled: ScheduledMeeting) -> ScheduledMeetingOut:
    services = services_of(request)
    service = services.scheduling
    override = await service.override_of(user.id, scheduled.id)
    return ScheduledMeetingOut(
        id=scheduled.id, platform=scheduled.platform, native_meeting_id=scheduled.native_meeting_id,
        meeting_url=scheduled.meeting_url, title=scheduled.title, source=scheduled.calendar_provider,
        state=scheduled.state,
        start_at=scheduled.start_at, end_at=scheduled.end_at,
        join_at=launch_at(scheduled.start_at, scheduled.join_at, service.timing),
        auto_join=scheduled.auto_join, reason=scheduled.decision_reason, error=scheduled.error,
        override=override,
        bot_owner=scheduled.user_id == user.id, meeting_id=await service.newest_meeting(scheduled.id),
        created_at=scheduled.created_at,
    )


@api.endpoint(
    "GET", "/scheduled", summary="The user's upcoming scheduled meetings, soonest first, with each decision",
    tag=TAG, auth=Auth.USER, query=ScheduledQuery, responses={200: ScheduledList},
)
async def list_scheduled(request: Request, user: User, query: ScheduledQuery) -> Response:
    rows = await services_of(request).scheduling.upcoming(
        user.id, utcnow(), query.state, query.include_past, query.limit, query.offset
    )
    return ModelResponse(ScheduledList(scheduled=[await scheduled_view(request, user, s) for s in rows]))


@api.endpoint(
    "GET", "/scheduled/{scheduled_id:int}", summary="One scheduled meeting", tag=TAG, auth=Auth.USER,
    responses={200: ScheduledMeetingOut, 404: "no such scheduled meeting for this user"},
)
async def get_scheduled(request: Request, user: User) -> Response:
    scheduled = await services_of(request).scheduling.get(user.id, request.path_params["scheduled_id"])
    return ModelResponse(await scheduled_view(request, user, scheduled))


@api.endpoint(
    "PATCH", "/scheduled/{scheduled_id:int}", summary="Override the rules for this meeting, or move its bot",
    tag=TAG, auth=Auth.USER, body=ScheduledPatch,
    responses={200: ScheduledMeetingOut, 404: "no such scheduled meeting for this user",
               409: "already launched, cancelled or failed", 422: "join_at too far in the past"},
)
async def change_scheduled(request: Request, user: User, body: ScheduledPatch) -> Response:
    services = services_of(request)
    changes: dict[str, object] = {}
    if "override" in body.model_fields_set:
        changes["override"] = body.override
    scheduled = await services.scheduling.change(
        user.id, request.path_params["scheduled_id"], utcnow(), join_at=body.join_at, **changes
    )
    services.scheduler.wake()
    return ModelResponse(await scheduled_view(request, user, scheduled))


@api.endpoint(
    "DELETE", "/scheduled/{scheduled_id:int}", summary="Cancel a scheduled meeting (kept, as cancelled)",
    tag=TAG, auth=Auth.USER,
    responses={200: ScheduledMeetingOut, 404: "no such scheduled meeting for this user",
               409: "not waiting any more, or on other users' calendars too (use override skip)"},
)
async def cancel_scheduled(request: Request, user: User) -> Response:
    scheduled = await services_of(request).scheduling.cancel(user, request.path_params["scheduled_id"])
    return ModelResponse(await scheduled_view(request, user, scheduled))
