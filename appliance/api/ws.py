"""WebSocket `/ws` (contract section 6): subscribe to meetings, receive status and segments.

With `since`, the server first replays every segment updated at or after that time, so a
client that reconnects misses nothing. Each segment is sent at most once per version: a copy
older than one already sent (a replay racing a live update) is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from appliance.api.auth import (
    CLOSE_BAD_CREDENTIAL,
    authenticate_websocket,
    websocket_protocol_of,
)
from appliance.api.schemas import segment_json
from appliance.db.models import Meeting, TranscriptSegment
from appliance.errors import DomainError
from appliance.live.hub import LiveHub, Subscriber
from appliance.services import Services

log = logging.getLogger(__name__)
REPLAY_CHUNK = 200


async def websocket_endpoint(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept(subprotocol=websocket_protocol_of(websocket))
    opener = await authenticate_websocket(websocket)
    if opener is None:
        await websocket.close(CLOSE_BAD_CREDENTIAL, "missing or invalid API key")
        return
    subscriber = Subscriber(opener.user_id, opener.token_id, opener.console_session_id)
    services.live.sockets.add(subscriber, services.db)
    sender = asyncio.create_task(_send_frames(websocket, subscriber))
    try:
        while True:
            raw = await websocket.receive_text()
            if not subscriber.ended.is_set():  # once ended, the sender is closing the socket
                await _handle(services, services.live, subscriber, raw)
    except WebSocketDisconnect:
        pass
    finally:
        services.live.sockets.discard(subscriber)
        services.live.drop(subscriber)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await sender


async def _send_frames(websocket: WebSocket, subscriber: Subscriber) -> None:
    """Send the queued frames until the subscriber is ended, then close with its code."""
    sent_versions: dict[tuple[int, str], datetime] = {}
    ended = asyncio.ensure_future(subscriber.ended.wait())
    getter: asyncio.Future[dict[str, Any]] | None = None
    try:
        while True:
            getter = asyncio.ensure_future(subscriber.queue.get())
            await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
            if ended.done():
                log.info("closing a WebSocket of user %s: %s", subscriber.user_id, subscriber.close_reason)
                if websocket.application_state == WebSocketState.CONNECTED:
                    await websocket.close(subscriber.close_code, subscriber.close_reason)
                return
            frame = _fresh_only(getter.result(), sent_versions)
            if frame is not None:
                await websocket.send_text(json.dumps(frame))
    finally:
        # Cancelled as well when the sender itself is: a pending get left behind would be
        # reported as "Task was destroyed but it is pending" when collected.
        ended.cancel()
        if getter is not None:
            getter.cancel()


def _fresh_only(frame: dict[str, Any], sent: dict[tuple[int, str], datetime]) -> dict[str, Any] | None:
    if frame.get("type") != "transcript.mutable":
        return frame
    meeting_id = frame["meeting"]["id"]
    fresh = []
    for segment in frame["payload"]["segments"]:
        key = (meeting_id, segment["segment_id"])
        version = datetime.fromisoformat(segment["updated_at"])
        if key in sent and sent[key] > version:
            continue
        sent[key] = version
        fresh.append(segment)
    if not fresh:
        return None
    return {**frame, "payload": {"segments": fresh}}


def _error(code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "error": code, "detail": detail}


async def _handle(services: Services, hub: LiveHub, subscriber: Subscriber, raw: str) -> None:
    try:
        message = json.loads(raw)
        action = message["action"]
    except (ValueError, KeyError, TypeError):
        subscriber.offer(_error("invalid_message", 'send JSON like {"action": "subscribe", "meetings": [...]}'))
        return
    if action == "ping":
        subscriber.offer({"type": "pong"})
    elif action in ("subscribe", "unsubscribe"):
        meetings = await _resolve(services, subscriber, message.get("meetings"))
        if meetings is None:
            return
        for meeting in meetings:
            if action == "subscribe":
                if meeting.user_id != subscriber.user_id:
                    subscriber.reading.add(meeting.id)  # a reader's (issue 16): checked by _resolve
                hub.subscribe(subscriber, meeting.id)
            else:
                hub.unsubscribe(subscriber, meeting.id)
        refs = [{"id": m.id, "platform": m.platform, "native_id": m.native_meeting_id} for m in meetings]
        subscriber.offer({"type": f"{action}d", "meetings": refs})
        if action == "subscribe" and message.get("since") is not None:
            await _replay(services, subscriber, [m.id for m in meetings], message["since"])
    else:
        subscriber.offer(_error("unknown_action", f"unknown action {action!r}; use subscribe, unsubscribe or ping"))


async def _resolve(services: Services, subscriber: Subscriber, refs: Any) -> list[Meeting] | None:
    if not isinstance(refs, list) or not refs:
        subscriber.offer(_error("invalid_message", "`meetings` must be a non-empty list"))
        return None
    found = []
    for ref in refs:
        try:
            if isinstance(ref, dict) and "meeting_id" in ref:
                meeting_id = int(ref["meeting_id"])
                found.append(await services.meetings.get_owned(subscriber.user_id, meeting_id, readers=True))
            elif isinstance(ref, dict) and "platform" in ref and "native_id" in ref:
                platform, native_id = str(ref["platform"]), str(ref["native_id"])
                found.append(await services.meetings.find(subscriber.user_id, platform, native_id, readers=True))
            else:
                subscriber.offer(_error("invalid_message", f"{ref!r}: give meeting_id, or platform and native_id"))
        except (DomainError, ValueError, TypeError) as exc:
            subscriber.offer(_error("not_found", getattr(exc, "detail", str(exc))))
    return found


async def _replay(services: Services, subscriber: Subscriber, meeting_ids: list[int], since: Any) -> None:
    try:
        since_time = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
        if since_time.tzinfo is None:
            raise ValueError("no time zone")
    except ValueError:
        subscriber.offer(
            _error("invalid_since", "`since` must be an ISO 8601 time with zone, e.g. a segment's updated_at")
        )
        return
    async with services.db.session() as session:
        rows = (
            await session.scalars(
                select(TranscriptSegment)
                .where(TranscriptSegment.meeting_id.in_(meeting_ids), TranscriptSegment.updated_at >= since_time)
                .order_by(TranscriptSegment.meeting_id, TranscriptSegment.updated_at, TranscriptSegment.id)
            )
        ).all()
    by_meeting: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_meeting.setdefault(row.meeting_id, []).append(segment_json(row))
    for meeting_id, segments in by_meeting.items():
        for start in range(0, len(segments), REPLAY_CHUNK):
            subscriber.offer(
                {
                    "type": "transcript.mutable",
                    "meeting": {"id": meeting_id},
                    "payload": {"segments": segments[start : start + REPLAY_CHUNK]},
                    "ts": segments[min(len(segments), start + REPLAY_CHUNK) - 1]["updated_at"],
                    "replay": True,
                }
            )
