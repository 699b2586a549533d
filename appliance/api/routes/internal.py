"""Calls from bots, authenticated by the meeting's bot token (never unauthenticated)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.schemas import BotStatusReport
from appliance.db.models import Meeting
from appliance.lifecycle import IllegalTransition, MeetingStatus, TransitionSource
from appliance.live.collector import SegmentBatch, SpeakerActivityBatch

api = Api()
TAG = "bot (internal)"


@api.endpoint(
    "POST", "/internal/bot/status", summary="A bot reports a lifecycle move", tag=TAG, auth=Auth.BOT,
    body=BotStatusReport,
    responses={200: "the meeting's status after the report", 409: "move refused by the lifecycle"},
)
async def report_status(request: Request, bot: Meeting, body: BotStatusReport) -> Response:
    lifecycle = services_of(request).lifecycle
    try:
        meeting, changed = await lifecycle.move(
            bot.id, body.status, TransitionSource.BOT,
            reason=body.reason.value if body.reason else None, error_details=body.error_details,
        )
    except IllegalTransition as exc:
        raise ApiError(409, f"Refused: {exc}.") from exc
    return JSONResponse({"meeting_id": meeting.id, "status": meeting.status, "changed": changed})


@api.endpoint(
    "POST", "/internal/bot/segments", summary="Transcript segments of one of the bot's audio streams",
    tag=TAG, auth=Auth.BOT_TAIL, body=SegmentBatch,
    responses={200: "how many segments changed", 422: "malformed batch"},
)
async def ingest_segments(request: Request, bot_tail: Meeting, body: SegmentBatch) -> Response:
    changed = await services_of(request).collector.ingest(bot_tail.id, body)
    return JSONResponse({"meeting_id": bot_tail.id, "changed": changed})


@api.endpoint(
    "POST", "/internal/bot/speakers", summary="Who spoke when, for channels that mix participants",
    tag=TAG, auth=Auth.BOT, body=SpeakerActivityBatch, responses={200: "how many turns were stored"},
)
async def speaker_activity(request: Request, bot: Meeting, body: SpeakerActivityBatch) -> Response:
    stored = await services_of(request).collector.record_activity(bot.id, body)
    return JSONResponse({"meeting_id": bot.id, "stored": stored})


@api.endpoint(
    "GET", "/internal/bot/command", summary="What the appliance wants of the bot now", tag=TAG,
    auth=Auth.BOT, responses={200: "stop flag and the latest configuration"},
)
async def bot_command(request: Request, bot: Meeting) -> Response:
    config = bot.data.get("bot_config") or {}
    return JSONResponse(
        {
            "stop": bot.status == MeetingStatus.STOPPING,
            "config": {
                "language": bot.data.get("language"),
                "task": bot.data.get("task"),
                "version": int(config.get("version", 0)),
            },
        }
    )
