"""Listing, reading, annotating and deleting meetings (contract section 3)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.api.schemas import (
    MeetingList,
    MeetingListQuery,
    MeetingOut,
    MeetingPatch,
    MeetingSelector,
    Message,
)
from appliance.api.views import meeting_view
from appliance.db.models import Meeting, User
from appliance.lifecycle import TERMINAL_STATES
from appliance.meetings.access import readable_by
from appliance.meetings.purge import forget, scrub

log = logging.getLogger(__name__)
api = Api()
TAG = "meetings"


@api.endpoint(
    "GET", "/meetings", summary="The user's meetings, newest first", tag=TAG, auth=Auth.USER,
    query=MeetingListQuery, responses={200: MeetingList},
)
async def list_meetings(request: Request, user: User, query: MeetingListQuery) -> Response:
    # Plain rows, not ORM objects: a listing changes nothing, and building change-tracked
    # objects (two mutable JSON columns each) was most of this endpoint's time.
    statement = select(*Meeting.__table__.columns).where(readable_by(user.id))  # own, and read as a reader
    if query.status is not None:
        statement = statement.where(Meeting.status == query.status.value)
    if query.platform is not None:
        statement = statement.where(Meeting.platform == query.platform.value)
    statement = statement.order_by(Meeting.id.desc()).limit(query.limit).offset(query.offset)
    async with services_of(request).db.session() as session:
        meetings = (await session.execute(statement)).all()
    return ModelResponse(MeetingList(meetings=[meeting_view(m) for m in meetings]))


@api.endpoint(
    "GET", "/meetings/{meeting_id:int}", summary="One meeting by id", tag=TAG, auth=Auth.USER,
    responses={200: MeetingOut, 404: "no such meeting for this user"},
)
async def get_meeting(request: Request, user: User) -> Response:
    meeting = await services_of(request).meetings.get_owned(user.id, request.path_params["meeting_id"], readers=True)
    return ModelResponse(meeting_view(meeting))


@api.endpoint(
    "PATCH", "/meetings/{platform}/{native_meeting_id}", summary="Set name, participants, languages, notes",
    tag=TAG, auth=Auth.USER, body=MeetingPatch, query=MeetingSelector,
    responses={200: MeetingOut, 404: "no such meeting", 422: "invalid data"},
)
async def patch_meeting(
    request: Request, user: User, body: MeetingPatch, query: MeetingSelector
) -> Response:
    services = services_of(request)
    found = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"],
        query.meeting_id,
    )
    changes = body.data.model_dump(exclude_unset=True)
    async with services.lifecycle.lock(found.id), services.db.session() as session:
        meeting = await session.get(Meeting, found.id)
        assert meeting is not None
        meeting.data.update(changes)
        await session.commit()
    return ModelResponse(meeting_view(meeting))


@api.endpoint(
    "DELETE", "/meetings/{platform}/{native_meeting_id}",
    summary="Delete a finished meeting's transcript and recordings", tag=TAG, auth=Auth.USER,
    query=MeetingSelector,
    responses={200: Message, 404: "no such meeting", 409: "the meeting is not finished"},
)
async def delete_meeting(request: Request, user: User, query: MeetingSelector) -> Response:
    services = services_of(request)
    found = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"],
        query.meeting_id,
    )
    async with services.lifecycle.lock(found.id), services.db.session() as session:
        meeting = await session.get(Meeting, found.id)
        assert meeting is not None
        if meeting.status not in {s.value for s in TERMINAL_STATES}:
            raise ApiError(
                409,
                f"Meeting {meeting.id} is still {meeting.status}; stop its bot "
                "(DELETE /bots/...) and delete it once it has ended.",
            )
        recording_ids = await scrub(session, meeting)
        await session.commit()
    await forget(services.settings, services.db, recording_ids)
    log.info("meeting %s deleted by user %s", meeting.id, user.id)
    return ModelResponse(Message(message=f"Meeting {meeting.id}'s transcript and recordings were deleted."))
