"""Sending bots into meetings, stopping and reconfiguring them (contract section 3)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.responses import ModelResponse
from appliance.api.routes.scheduled import scheduled_view
from appliance.api.schemas import (
    BotConfigUpdate,
    BotRequest,
    MeetingOut,
    Message,
    RunningBot,
    RunningBots,
    RuntimeRef,
)
from appliance.api.views import meeting_view
from appliance.db.models import Meeting, User, utcnow
from appliance.lifecycle import LIVE_STATES

api = Api()
TAG = "bots"


@api.endpoint(
    "POST", "/bots", summary="Send a bot into a meeting", tag=TAG, auth=Auth.USER, body=BotRequest,
    responses={201: MeetingOut, 409: "the meeting already has a live bot",
               # With join_at the 201 is a scheduled meeting instead (docs/api.md, GET /scheduled).
               429: "over the user's max_concurrent_bots", 422: "invalid request",
               503: "the box cannot hold another bot now (CPU, memory or ASR): see Retry-After"},
)
async def request_bot(request: Request, user: User, body: BotRequest) -> Response:
    services = services_of(request)
    if body.join_at is not None:
        scheduled = await services.scheduling.schedule(user, body.order(), body.join_at, utcnow())
        await services.relay.flush()  # meeting.scheduled goes out now
        services.scheduler.wake()
        return ModelResponse(await scheduled_view(request, user, scheduled), 201)
    meeting = await services.meetings.launch(user, body.order())
    return ModelResponse(meeting_view(meeting), 201)


@api.endpoint(
    "GET", "/bots/status", summary="The user's live bots", tag=TAG, auth=Auth.USER,
    responses={200: RunningBots},
)
async def running_bots(request: Request, user: User) -> Response:
    services = services_of(request)
    async with services.db.session() as session:
        meetings = (
            await session.scalars(
                select(Meeting)
                .where(Meeting.user_id == user.id, Meeting.status.in_([s.value for s in LIVE_STATES]))
                .order_by(Meeting.id.desc())
            )
        ).all()
    bots = [
        RunningBot(
            meeting_id=m.id, platform=m.platform, native_meeting_id=m.native_meeting_id,
            status=m.status, bot_name=m.data.get("bot_name"), created_at=m.created_at,
            runtime=RuntimeRef(kind=m.runtime_kind, id=m.bot_container_id),
        )
        for m in meetings
    ]
    return ModelResponse(RunningBots(running_bots=bots))


@api.endpoint(
    "DELETE", "/bots/{platform}/{native_meeting_id}", summary="Ask the bot to leave", tag=TAG,
    auth=Auth.USER, responses={202: Message, 404: "no such meeting", 409: "no live bot"},
)
async def stop_bot(request: Request, user: User) -> Response:
    platform, native = request.path_params["platform"], request.path_params["native_meeting_id"]
    meeting = await services_of(request).meetings.stop(user.id, platform, native)
    grace = services_of(request).settings.bot_stop_grace_s
    return ModelResponse(
        Message(
            message=f"Stop requested for meeting {meeting.id}; the bot leaves now and is "
            f"removed after {grace:.0f} s at the latest."
        ),
        202,
    )


@api.endpoint(
    "PUT", "/bots/{platform}/{native_meeting_id}/config", summary="Change language or task live",
    tag=TAG, auth=Auth.USER, body=BotConfigUpdate,
    responses={202: Message, 404: "no such meeting", 409: "no live bot"},
)
async def reconfigure_bot(request: Request, user: User, body: BotConfigUpdate) -> Response:
    platform, native = request.path_params["platform"], request.path_params["native_meeting_id"]
    meeting = await services_of(request).meetings.reconfigure(user.id, platform, native, body.changes())
    return ModelResponse(
        Message(message=f"New configuration sent to the bot of meeting {meeting.id}."), 202
    )
