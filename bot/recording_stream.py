"""The mix of the meeting's audio to the appliance's `/internal/bot/audio`, for a recording.

Blocks wait in a bounded queue while the appliance is away (reconnects wait asr.backoff's
delays); the appliance closing the stream on purpose ends it for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from appliance.close_codes import ENDS_RECORDING
from asr.backoff import Backoff
from asr.protocol import SAMPLE_RATE
from bot.sender import RECONNECT_DELAYS_S, finish_or_cancel

log = logging.getLogger("vomeet.bot.audio")
RECORDING_BACKLOG_S = 60.0
BLOCK_SAMPLES = 6400  # the page kit's 400 ms blocks


class RecordingStream:
    """The mix of the meeting's audio to the appliance's /internal/bot/audio."""

    def __init__(self, api_url: str, token: str) -> None:
        self.url = api_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/internal/bot/audio"
        self.token = token
        self._queue: deque[bytes] = deque(maxlen=int(RECORDING_BACKLOG_S * SAMPLE_RATE / BLOCK_SAMPLES) + 1)
        self._wake = asyncio.Event()
        self._closing = False
        self._refused = False
        self._task = asyncio.create_task(self._run(), name="recording")

    def push(self, pcm: bytes) -> None:
        if not self._refused:
            self._queue.append(pcm)
            self._wake.set()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        await finish_or_cancel(self._task)

    async def _run(self) -> None:
        backoff = Backoff(RECONNECT_DELAYS_S)
        while not self._refused:
            if self._closing and not self._queue:
                return
            try:
                headers = {"Authorization": f"Bearer {self.token}"}
                async with connect(self.url, additional_headers=headers, open_timeout=10, max_size=None) as ws:
                    backoff.reset()
                    while True:
                        while self._queue:
                            await ws.send(self._queue[0])
                            self._queue.popleft()
                        if self._closing:
                            return
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), 1)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in ENDS_RECORDING:
                    log.info("the appliance ended the recording stream: %s", exc.rcvd.reason)
                    self._refused = True
                    return
            except (OSError, WebSocketException, TimeoutError) as exc:
                if backoff.failures == 0:
                    log.warning("recording stream: %s; retrying", exc)
            if self._closing:
                return
            await backoff.wait()
