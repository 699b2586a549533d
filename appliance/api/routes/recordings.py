"""Recordings of the user's meetings and their audio files (contract section 3)."""

from __future__ import annotations

import shutil

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.api.schemas import Message, Paging, RecordingList, RecordingOut
from appliance.api.views import recording_view
from appliance.db.models import Recording, User

api = Api()
TAG = "recordings"
AUDIO_TYPES = {"ogg": "audio/ogg", "opus": "audio/ogg", "wav": "audio/wav", "webm": "audio/webm",
               "flac": "audio/flac", "mp3": "audio/mpeg"}


async def _owned_recording(request: Request, user: User) -> Recording:
    recording_id = request.path_params["recording_id"]
    async with services_of(request).db.session() as session:
        recording = await session.scalar(
            select(Recording).options(selectinload(Recording.media_files))
            .where(Recording.id == recording_id)
        )
    if recording is None or recording.user_id != user.id:
        raise ApiError(404, f"No recording {recording_id} found for this user.")
    return recording


@api.endpoint(
    "GET", "/recordings", summary="The user's recordings, newest first", tag=TAG, auth=Auth.USER,
    query=Paging, responses={200: RecordingList},
)
async def list_recordings(request: Request, user: User, query: Paging) -> Response:
    async with services_of(request).db.session() as session:
        recordings = (
            await session.scalars(
                select(Recording).options(selectinload(Recording.media_files))
                .where(Recording.user_id == user.id).order_by(Recording.id.desc())
                .limit(query.limit).offset(query.skip)
            )
        ).all()
    return ModelResponse(RecordingList(recordings=[recording_view(r) for r in recordings]))


@api.endpoint(
    "GET", "/recordings/{recording_id:int}", summary="One recording", tag=TAG, auth=Auth.USER,
    responses={200: RecordingOut, 404: "no such recording for this user"},
)
async def get_recording(request: Request, user: User) -> Response:
    return ModelResponse(recording_view(await _owned_recording(request, user)))


@api.endpoint(
    "DELETE", "/recordings/{recording_id:int}", summary="Delete a recording and its files",
    tag=TAG, auth=Auth.USER, responses={200: Message, 404: "no such recording for this user"},
)
async def delete_recording(request: Request, user: User) -> Response:
    recording = await _owned_recording(request, user)
    services = services_of(request)
    async with services.db.session() as session:
        stored = await session.get(Recording, recording.id)
        if stored is not None:
            await session.delete(stored)
            await session.commit()
    shutil.rmtree(services.settings.recordings_dir / str(recording.id), ignore_errors=True)
    return ModelResponse(Message(message=f"Recording {recording.id} deleted."))


@api.endpoint(
    "GET", "/recordings/{recording_id:int}/media/{media_file_id:int}/raw",
    summary="The audio bytes (single Range requests answer 206)", tag=TAG, auth=Auth.USER,
    responses={200: "audio", 206: "partial audio", 404: "no such file", 416: "range not satisfiable"},
)
async def media_raw(request: Request, user: User) -> Response:
    recording = await _owned_recording(request, user)
    media_id = request.path_params["media_file_id"]
    media = next((m for m in recording.media_files if m.id == media_id), None)
    if media is None:
        raise ApiError(404, f"Recording {recording.id} has no media file {media_id}.")
    root = services_of(request).settings.recordings_dir.resolve()
    path = (root / media.storage_path).resolve()
    if root not in path.parents or not path.is_file():
        raise ApiError(404, f"The audio of media file {media_id} is missing from the data directory.")
    if "range" in request.headers:
        _check_range(request.headers["range"], path.stat().st_size)
    return FileResponse(path, media_type=AUDIO_TYPES.get(media.format, "application/octet-stream"))


def _check_range(http_range: str, size: int) -> None:
    """A bad Range gets the API's error shape (FileResponse would answer in plain text). The
    check is FileResponse's own parser, so what passes here is what it then serves."""
    try:
        FileResponse._parse_range_header(http_range, size)
    except MalformedRangeHeader as exc:
        raise ApiError(
            400, f"Range {http_range!r}: {exc.content or 'malformed'}; use e.g. 'bytes=0-1023' or 'bytes=1024-'."
        ) from exc
    except RangeNotSatisfiable as exc:
        raise ApiError(
            416, f"Range {http_range!r} starts past the end of the file ({size} bytes).",
            headers={"Content-Range": f"bytes */{exc.max_size}"},
        ) from exc
