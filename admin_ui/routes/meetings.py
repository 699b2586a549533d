"""Meetings: the list (filters, transcript search) and a meeting's page with its actions.

Actions run the API's own handlers as the meeting's owner (see access.call_api), so stopping,
deleting, sharing and exporting behave exactly as through the REST API.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from markupsafe import Markup
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.access import call_api, load_user, meetings_visible_to, visible_meeting
from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of
from appliance.api.routes import bots, meetings, recordings, transcripts
from appliance.api.schemas import (
    MeetingSelector,
    SegmentOut,
    ShareQuery,
    ShareRequest,
    TranscriptQuery,
)
from appliance.db.models import Meeting, Recording, TranscriptSegment, User
from appliance.errors import Invalid
from appliance.lifecycle import LIVE_STATES, MeetingStatus
from appliance.meeting_urls import Platform
from appliance.transcripts import search

pages = Pages()
PAGE_SIZE = 25
EXPORT_FORMATS = ("txt", "srt", "vtt", "json")
LIVE = {s.value for s in LIVE_STATES}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filters(request: Request, viewer: Viewer) -> tuple[dict[str, str], list[ColumnElement[bool]]]:
    params = {k: request.query_params.get(k, "").strip() for k in ("q", "status", "platform", "user")}
    where: list[ColumnElement[bool]] = [meetings_visible_to(viewer)]
    if params["status"] in {s.value for s in MeetingStatus}:
        where.append(Meeting.status == params["status"])
    if params["platform"] in {p.value for p in Platform}:
        where.append(Meeting.platform == params["platform"])
    if viewer.is_admin and params["user"]:
        where.append(User.email.ilike(_like(params["user"])))
    if params["q"]:
        # The API's search (GET /search) reads the words: the same FTS5 index and query rules.
        try:
            query = search.parse(params["q"])
        except Invalid as exc:
            raise PageError(422, exc.detail) from exc
        where.append(Meeting.id.in_(search.meeting_ids_matching(query)))
    return params, where


def _marked(snippet: str) -> Markup:
    """The snippet as HTML: its text escaped, each matched word in <mark>."""
    parts = snippet.split(search.MARK)
    return Markup("").join(
        Markup("<mark>{}</mark>").format(part) if n % 2 else Markup("{}").format(part)
        for n, part in enumerate(parts)
    )


async def _snippets(request: Request, meeting_ids: list[int], q: str) -> dict[int, Markup]:
    """The first segment of each meeting that matches the search, to show why it was found."""
    if not q or not meeting_ids:
        return {}
    async with services_of(request).db.session() as session:
        found = await search.first_snippets(session, meeting_ids, search.parse(q))
    return {meeting_id: _marked(snippet) for meeting_id, snippet in found.items()}


@pages.get("/meetings")
async def meeting_list(request: Request, viewer: Viewer) -> Response:
    params, where = _filters(request, viewer)
    asked = request.query_params.get("page", "1")
    page = max(1, int(asked)) if asked.isdigit() and len(asked) < 9 else 1
    async with services_of(request).db.session() as session:
        rows = (await session.execute(
            select(Meeting, User.email).join(User, User.id == Meeting.user_id).where(*where)
            .order_by(Meeting.id.desc()).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
        )).all()
    shown = [(m, email) for m, email in rows[:PAGE_SIZE]]
    snippets = await _snippets(request, [m.id for m, _ in shown], params["q"])
    return await render(
        request, viewer, "meetings.html", meetings=shown, params=params, page=page,
        has_next=len(rows) > PAGE_SIZE, snippets=snippets,
        query_base=urlencode({k: v for k, v in params.items() if v}),
        statuses=[s.value for s in MeetingStatus], platforms=[p.value for p in Platform],
    )


@pages.get("/meetings/{meeting_id:int}")
async def meeting_page(request: Request, viewer: Viewer) -> Response:
    meeting = await visible_meeting(request, viewer, request.path_params["meeting_id"])
    owner = await load_user(request, meeting.user_id)
    async with services_of(request).db.session() as session:
        rows = (await session.scalars(
            select(TranscriptSegment).where(TranscriptSegment.meeting_id == meeting.id)
            .order_by(TranscriptSegment.start, TranscriptSegment.id)
        )).all()
        found = (await session.scalars(
            select(Recording).options(selectinload(Recording.media_files))
            .where(Recording.meeting_id == meeting.id).order_by(Recording.id)
        )).all()
    segments = [SegmentOut.model_validate(r).model_dump(mode="json") for r in rows]
    audio = [(r, m) for r in found for m in r.media_files if m.type == "audio"]
    page_data = {"meeting_id": meeting.id, "status": meeting.status, "segments": segments,
                 "live": meeting.status in LIVE}
    return await render(
        request, viewer, "meeting.html", meeting=meeting, owner=owner, audio=audio,
        transitions=list(meeting.transitions), page_data=page_data,
        export_formats=EXPORT_FORMATS, live=meeting.status in LIVE,
    )


@pages.get("/meetings/{meeting_id:int}/state")
async def meeting_state(request: Request, viewer: Viewer) -> Response:
    """The current status, read by the page after (re)connecting: a change that happened
    before the live link was up is not replayed over the WebSocket."""
    meeting = await visible_meeting(request, viewer, request.path_params["meeting_id"])
    return JSONResponse({"status": meeting.status, "reason": meeting.completion_reason})


async def _meeting_and_owner(request: Request, viewer: Viewer) -> tuple[Meeting, User, dict[str, str]]:
    meeting = await visible_meeting(request, viewer, request.path_params["meeting_id"])
    owner = await load_user(request, meeting.user_id)
    return meeting, owner, {"platform": meeting.platform, "native_meeting_id": meeting.native_meeting_id}


@pages.post("/meetings/{meeting_id:int}/stop")
async def stop(request: Request, viewer: Viewer) -> Response:
    meeting, owner, ref = await _meeting_and_owner(request, viewer)
    if meeting.status not in LIVE:
        raise PageError(409, f"Meeting {meeting.id} has already ended ({meeting.status}).")
    answer = await call_api(request, bots.stop_bot, ref, user=owner)
    message = json.loads(bytes(answer.body))["message"]
    return await redirect(request, viewer, f"{PREFIX}/meetings/{meeting.id}", message)


@pages.post("/meetings/{meeting_id:int}/delete")
async def delete(request: Request, viewer: Viewer) -> Response:
    meeting, owner, ref = await _meeting_and_owner(request, viewer)
    answer = await call_api(request, meetings.delete_meeting, ref, user=owner,
                            query=MeetingSelector(meeting_id=meeting.id))
    return await redirect(request, viewer, f"{PREFIX}/meetings", json.loads(bytes(answer.body))["message"])


@pages.post("/meetings/{meeting_id:int}/share")
async def share(request: Request, viewer: Viewer) -> Response:
    meeting, owner, ref = await _meeting_and_owner(request, viewer)
    days = str((await request.form()).get("days") or "7")
    if not days.isdigit() or not 1 <= int(days) <= 90:
        raise PageError(422, "A share link lasts 1 to 90 days.")
    body = ShareRequest(meeting_id=meeting.id, ttl_seconds=int(days) * 86400)
    answer = await call_api(request, transcripts.share_transcript, ref, user=owner, body=body, query=ShareQuery())
    shared = json.loads(bytes(answer.body))
    return await redirect(request, viewer, f"{PREFIX}/meetings/{meeting.id}", f"share:{shared['url']}")


@pages.get("/meetings/{meeting_id:int}/export/{fmt}")
async def export(request: Request, viewer: Viewer) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in EXPORT_FORMATS:
        raise PageError(404, f"No export as {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    meeting, owner, ref = await _meeting_and_owner(request, viewer)
    answer = await call_api(request, transcripts.get_transcript, ref, user=owner,
                            query=TranscriptQuery(meeting_id=meeting.id, format=fmt))
    name = f"{meeting.platform}-{meeting.native_meeting_id}-{meeting.id}.{fmt}"
    answer.headers["content-disposition"] = f'attachment; filename="{name}"'
    return answer


@pages.get("/recordings/{recording_id:int}/media/{media_file_id:int}")
async def audio(request: Request, viewer: Viewer) -> Response:
    async with services_of(request).db.session() as session:
        recording = await session.get(Recording, request.path_params["recording_id"])
    if recording is None or not (viewer.is_admin or recording.user_id == viewer.user_id):
        raise PageError(404, "There is no such recording for you to hear.")
    owner = await load_user(request, recording.user_id)
    return await call_api(request, recordings.media_raw, dict(request.path_params), user=owner)
