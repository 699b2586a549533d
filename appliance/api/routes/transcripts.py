"""Transcripts in JSON and as files, and public share links (contract section 3)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import TypeAdapter
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from appliance.api.auth import services_of
from appliance.api.endpoint import MAX_ID, Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.api.schemas import (
    DEFAULT_SHARE_TTL_S,
    MeetingSelector,
    SegmentOut,
    ShareInfo,
    ShareList,
    ShareOut,
    ShareQuery,
    ShareRequest,
    TranscriptOut,
    TranscriptQuery,
)
from appliance.api.views import recording_view
from appliance.db.engine import rowcount
from appliance.db.models import Meeting, Recording, ShareLink, TranscriptSegment, User, utcnow
from appliance.netinfo import reachable_base_url
from appliance.security import SHARE_PREFIX, hash_secret, new_secret
from appliance.transcripts.export import RENDERERS, to_txt

api = Api()
TAG = "transcripts"


async def _segments(request: Request, meeting_id: int) -> list[TranscriptSegment]:
    async with services_of(request).db.session() as session:
        rows = await session.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.meeting_id == meeting_id)
            .order_by(TranscriptSegment.start, TranscriptSegment.id)
        )
        return list(rows.all())


# The JSON transcript reads plain rows, not ORM objects: for a long meeting (thousands of
# segments) building and tracking one ORM instance per segment was most of the request's time.
SEGMENT_FIELDS = tuple(SegmentOut.model_fields)
SEGMENT_COLUMNS = [getattr(TranscriptSegment, name) for name in SEGMENT_FIELDS]
SEGMENT_LIST = TypeAdapter(list[SegmentOut])


async def _segments_out(request: Request, meeting_id: int) -> list[SegmentOut]:
    async with services_of(request).db.session() as session:
        rows = await session.execute(
            select(*SEGMENT_COLUMNS)
            .where(TranscriptSegment.meeting_id == meeting_id)
            .order_by(TranscriptSegment.start, TranscriptSegment.id)
        )
        # Plain dicts: validating RowMapping objects goes through the slow Mapping.get.
        return SEGMENT_LIST.validate_python([dict(zip(SEGMENT_FIELDS, row, strict=True)) for row in rows])


@api.endpoint(
    "GET", "/transcripts/{platform}/{native_meeting_id}", summary="A meeting's transcript",
    tag=TAG, auth=Auth.USER, query=TranscriptQuery,
    responses={200: TranscriptOut, 404: "no such meeting for this user"},
)
async def get_transcript(request: Request, user: User, query: TranscriptQuery) -> Response:
    services = services_of(request)
    meeting = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"],
        query.meeting_id, readers=True,
    )
    if query.format != "json":
        segments = await _segments(request, meeting.id)
        render, media_type = RENDERERS[query.format]
        filename = f"{meeting.platform}-{meeting.native_meeting_id}-{meeting.id}.{query.format}"
        return Response(
            render(segments), media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    async with services.db.session() as session:
        recordings = (
            await session.scalars(
                select(Recording).options(selectinload(Recording.media_files))
                .where(Recording.meeting_id == meeting.id).order_by(Recording.id)
            )
        ).all()
    transcript = TranscriptOut(
        id=meeting.id, platform=meeting.platform, native_meeting_id=meeting.native_meeting_id,
        constructed_meeting_url=meeting.constructed_meeting_url, status=meeting.status,
        start_time=meeting.start_time, end_time=meeting.end_time,
        recordings=[recording_view(r) for r in recordings], notes=meeting.data.get("notes"),
        segments=await _segments_out(request, meeting.id),
    )
    return ModelResponse(transcript)


def _one_of(name: str, in_body: int | None, in_query: int | None) -> int | None:
    if in_body is not None and in_query is not None and in_body != in_query:
        raise ApiError(422, f"{name} is {in_body} in the body but {in_query} in the query; send it once.")
    return in_body if in_body is not None else in_query


@api.endpoint(
    "POST", "/transcripts/{platform}/{native_meeting_id}/share", summary="Make a public, expiring link",
    tag=TAG, auth=Auth.USER, body=ShareRequest, query=ShareQuery, responses={200: ShareOut, 404: "no such meeting"},
)
async def share_transcript(request: Request, user: User, body: ShareRequest, query: ShareQuery) -> Response:
    services = services_of(request)
    meeting = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"],
        _one_of("meeting_id", body.meeting_id, query.meeting_id),
    )
    ttl_s = _one_of("ttl_seconds", body.ttl_seconds, query.ttl_seconds) or DEFAULT_SHARE_TTL_S
    secret = new_secret(SHARE_PREFIX)
    expires_at = utcnow() + timedelta(seconds=ttl_s)
    async with services.db.session() as session:
        link = ShareLink(meeting_id=meeting.id, share_hash=secret.digest, expires_at=expires_at)
        session.add(link)
        await session.commit()
    settings = services.settings
    base, reach = reachable_base_url(settings.host, settings.port, settings.public_url,
                                     "https" if settings.tls_enabled else "http")
    url = f"{base}/public/transcripts/{secret.value}.txt"
    return ModelResponse(ShareOut(id=link.id, share_id=secret.value, url=url, expires_at=expires_at,
                                  reachable_from=reach))


@api.endpoint(
    "GET", "/transcripts/{platform}/{native_meeting_id}/shares", summary="The meeting's share links",
    tag=TAG, auth=Auth.USER, query=MeetingSelector, responses={200: ShareList, 404: "no such meeting"},
)
async def list_shares(request: Request, user: User, query: MeetingSelector) -> Response:
    services = services_of(request)
    meeting = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"], query.meeting_id,
    )
    now = utcnow()
    async with services.db.session() as session:
        links = (await session.scalars(
            select(ShareLink).where(ShareLink.meeting_id == meeting.id).order_by(ShareLink.id)
        )).all()
    return ModelResponse(ShareList(shares=[
        ShareInfo(id=link.id, created_at=link.created_at, expires_at=link.expires_at, expired=link.expires_at <= now)
        for link in links
    ]))


@api.endpoint(
    "DELETE", "/transcripts/{platform}/{native_meeting_id}/shares/{share_ref}",
    summary="Revoke a share link (by its id from the list, or by its share_id)", tag=TAG, auth=Auth.USER,
    query=MeetingSelector, responses={204: "revoked: the link answers 404 from now on", 404: "no such link"},
)
async def revoke_share(request: Request, user: User, query: MeetingSelector) -> Response:
    services = services_of(request)
    meeting = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"], query.meeting_id,
    )
    ref = request.path_params["share_ref"]
    if ref.startswith(SHARE_PREFIX):
        which = ShareLink.share_hash == hash_secret(ref)
    elif ref.isdigit() and 0 < int(ref) <= MAX_ID:
        which = ShareLink.id == int(ref)
    else:
        raise ApiError(422, f"{ref!r} is neither a share link id (a number) nor a share_id ({SHARE_PREFIX}...).")
    async with services.db.session() as session:
        removed = await session.execute(delete(ShareLink).where(ShareLink.meeting_id == meeting.id, which))
        await session.commit()
    if rowcount(removed) == 0:
        raise ApiError(404, f"Meeting {meeting.id} has no share link {ref}.")
    return Response(status_code=204)


@api.endpoint(
    "GET", "/public/transcripts/{share_id}.txt", summary="A shared transcript (no key needed)",
    tag=TAG, auth=Auth.PUBLIC, responses={200: "text/plain transcript", 404: "unknown or expired link"},
)
async def public_transcript(request: Request) -> Response:
    digest = hash_secret(request.path_params["share_id"])
    async with services_of(request).db.session() as session:
        link = await session.scalar(select(ShareLink).where(ShareLink.share_hash == digest))
        meeting = await session.get(Meeting, link.meeting_id) if link else None
    if link is None or meeting is None or link.expires_at <= utcnow():
        raise ApiError(404, "This share link does not exist or has expired.")
    return PlainTextResponse(to_txt(await _segments(request, meeting.id)))
