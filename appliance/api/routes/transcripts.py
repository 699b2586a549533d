"""Transcripts in JSON and as files, and public share links (contract section 3)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from appliance.api.auth import services_of
from appliance.api.endpoint import MAX_ID, Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.api.schemas import SegmentOut, ShareOut, ShareRequest, TranscriptOut, TranscriptQuery
from appliance.api.views import recording_view
from appliance.db.models import Meeting, Recording, ShareLink, TranscriptSegment, User, utcnow
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
        return SEGMENT_LIST.validate_python([dict(zip(SEGMENT_FIELDS, row)) for row in rows])


@api.endpoint(
    "GET", "/transcripts/{platform}/{native_meeting_id}", summary="A meeting's transcript",
    tag=TAG, auth=Auth.USER, query=TranscriptQuery,
    responses={200: TranscriptOut, 404: "no such meeting for this user"},
)
async def get_transcript(request: Request, user: User, query: TranscriptQuery) -> Response:
    services = services_of(request)
    meeting = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"],
        query.meeting_id,
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


@api.endpoint(
    "POST", "/transcripts/{platform}/{native_meeting_id}/share", summary="Make a public, expiring link",
    tag=TAG, auth=Auth.USER, body=ShareRequest, responses={200: ShareOut, 404: "no such meeting"},
)
async def share_transcript(request: Request, user: User, body: ShareRequest) -> Response:
    services = services_of(request)
    meeting = await services.meetings.find(
        user.id, request.path_params["platform"], request.path_params["native_meeting_id"],
        body.meeting_id or _int_or_none(request.query_params.get("meeting_id")),
    )
    secret = new_secret(SHARE_PREFIX)
    expires_at = utcnow() + timedelta(seconds=body.ttl_seconds)
    async with services.db.session() as session:
        session.add(ShareLink(meeting_id=meeting.id, share_hash=secret.digest, expires_at=expires_at))
        await session.commit()
    url = f"{services.settings.base_url}/public/transcripts/{secret.value}.txt"
    return ModelResponse(ShareOut(share_id=secret.value, url=url, expires_at=expires_at))


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise ApiError(422, "query.meeting_id: must be a positive whole number")
    return int(value)


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
