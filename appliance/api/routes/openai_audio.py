"""OpenAI-compatible `POST /v1/audio/transcriptions` and `/v1/audio/translations` (contract
section 3), usable by OpenAI's own clients: the user's key as `Authorization: Bearer` (or
X-API-Key), a multipart upload, OpenAI's answer formats and error shape. The ASR server's model
transcribes (appliance/file_transcription.py); the request and answer shapes are asr/openai_api.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from pydantic import BaseModel
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from appliance import file_transcription
from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.db.models import User
from asr.openai_api import MEDIA_TYPES, OpenAIError, parse_request, render

api = Api()
TAG = "openai"
FORM_OVERHEAD = 64 * 1024  # the other fields and the multipart boundaries, beside the file
# An upload over the limit is still read (and dropped) up to this many times the limit before
# the 413, so that the client, still sending, reads the answer instead of a reset connection.
DRAIN_FACTOR = 4
RESPONSES: dict[int, type[BaseModel] | str] = {
    200: "the transcript, in response_format (JSON for json and verbose_json, text otherwise)",
    400: "a field this server does not support, a bad value, undecodable or too long audio",
    413: "the file is larger than openai_audio_max_bytes",
    503: "the ASR server is busy with live meetings (Retry-After) or not running",
}


def _too_large(limit: int) -> OpenAIError:
    return OpenAIError(
        413, f"The file is larger than {limit} bytes ({limit / 2**20:.1f} MiB), the most this server takes.",
        "file", "file_too_large",
    )


async def _read_form(request: Request, limit: int) -> FormData:
    """The multipart form; nothing past the size limit is kept."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise OpenAIError(400, "Send multipart/form-data with the audio in a 'file' part.", "file")
    ceiling = limit + FORM_OVERHEAD

    async def bounded() -> AsyncGenerator[bytes, None]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > DRAIN_FACTOR * ceiling:
                break
            if size <= ceiling:
                yield chunk
        if size > ceiling:
            raise _too_large(limit)

    try:
        return await MultiPartParser(request.headers, bounded(), max_files=1, max_fields=32).parse()
    except MultiPartException as error:
        raise OpenAIError(400, f"Malformed multipart form: {error.message}.") from None


async def _answer(request: Request, task: str) -> Response:
    settings = services_of(request).settings
    limit = settings.openai_audio_max_bytes
    form = await _read_form(request, limit)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise OpenAIError(400, "'file' is required: the audio file, as a multipart file part.", "file")
        if (upload.size or 0) > limit:
            raise _too_large(limit)
        fields: dict[str, list[str]] = {}
        for name, value in form.multi_items():
            if name == "file":
                continue
            if not isinstance(value, str):
                raise OpenAIError(400, f"'{name}' must be a text field, not a file.", name)
            fields.setdefault(name, []).append(value)
        model = await file_transcription.asr_model(settings)
        wanted = parse_request(fields, task, model.accepted_names, model.multilingual)
        data = await upload.read()
    finally:
        await form.close()
    if not data:
        raise OpenAIError(400, "'file' is empty.", "file")
    audio = await asyncio.to_thread(file_transcription.decode, data, settings.openai_audio_max_duration_s)
    transcript = await file_transcription.transcribe(settings, model, audio, wanted)
    result = render(transcript.segments, wanted.response_format, transcript.language, transcript.duration, task)
    if isinstance(result, dict):
        return JSONResponse(result)
    return PlainTextResponse(result, media_type=MEDIA_TYPES[wanted.response_format])


@api.endpoint(
    "POST", "/v1/audio/transcriptions", summary="Transcribe an audio file (OpenAI-compatible)",
    tag=TAG, auth=Auth.OPENAI_USER, raw_body="multipart/form-data", responses=RESPONSES,
)
async def create_transcription(request: Request, openai_user: User) -> Response:
    return await _answer(request, "transcribe")


@api.endpoint(
    "POST", "/v1/audio/translations", summary="Translate an audio file into English (OpenAI-compatible)",
    tag=TAG, auth=Auth.OPENAI_USER, raw_body="multipart/form-data", responses=RESPONSES,
)
async def create_translation(request: Request, openai_user: User) -> Response:
    return await _answer(request, "translate")
