"""WebSocket `/internal/bot/audio`: a bot streams its meeting audio for the recording.

Authenticated by the bot token (`Authorization: Bearer`); binary frames of 16 kHz mono float32
little-endian PCM, as on the ASR stream. A meeting without recording enabled is told so and
closed (code 4403), so the bot stops sending.
"""

from __future__ import annotations

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from appliance.api.auth import CLOSE_BAD_CREDENTIAL, authenticate
from appliance.api.endpoint import Auth
from appliance.api.errors import ApiError
from appliance.close_codes import CloseCode
from appliance.services import Services

CLOSE_NOT_RECORDING = CloseCode.NOT_RECORDING


async def bot_audio_endpoint(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    try:
        meeting = await authenticate(websocket, Auth.BOT)
    except ApiError as exc:
        await websocket.close(CLOSE_BAD_CREDENTIAL, exc.detail[:120])
        return
    if not meeting.data.get("recording_enabled"):
        await websocket.close(CLOSE_NOT_RECORDING, "recording is not enabled for this meeting")
        return
    async with services.recordings.feeding(meeting.id):
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                chunk = message.get("bytes")
                if not chunk:
                    continue
                usable = len(chunk) - len(chunk) % 4
                if not await services.recordings.append(meeting, np.frombuffer(chunk[:usable], dtype="<f4")):
                    await websocket.close(1000, "the meeting has ended")
                    return
        except WebSocketDisconnect:
            return
