"""OpenAI-compatible `POST /v1/audio/transcriptions` (and `/translations`) as Starlette routes.
Authentication is the mounting application's job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from asr.files import TranscriptionError, transcribe_file
from asr.models import LoadedModel

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_MEDIA_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt", "text": "text/plain"}


def _error(message: str, param: str | None = None, status: int = 400) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


def transcription_routes(engine_factory: Callable[[], LoadedModel]) -> list[Route]:
    """`engine_factory` returns the loaded model to use (called per request, so it may load lazily)."""

    async def handle(request: Request, task: str) -> Response:
        try:
            form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
        except Exception as error:  # malformed multipart
            return _error(f"expected multipart/form-data: {error}")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _error("'file' is required (an audio file)", "file")
        data = await upload.read()
        if not data:
            return _error("'file' is empty", "file")
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        response_format = fields.get("response_format") or "json"
        language = (fields.get("language") or None) if task == "transcribe" else None
        try:
            result = await run_in_threadpool(
                transcribe_file, data, language, response_format,
                model=engine_factory(), task=task, prompt=fields.get("prompt") or None,
            )
        except TranscriptionError as error:
            return _error(str(error))
        if isinstance(result, dict):
            return JSONResponse(result)
        return PlainTextResponse(result, media_type=_MEDIA_TYPES[response_format])

    async def transcriptions(request: Request) -> Response:
        return await handle(request, "transcribe")

    async def translations(request: Request) -> Response:
        return await handle(request, "translate")

    return [
        Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
        Route("/v1/audio/translations", translations, methods=["POST"]),
    ]
