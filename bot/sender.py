"""What the bot's two audio senders (bot.asr_stream, bot.recording_stream) share: their reconnect
delays (walked by asr.backoff.Backoff) and their grace at close."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

RECONNECT_DELAYS_S = (0.5, 1, 2, 4, 8)
CLOSE_GRACE_S = 5.0  # a leaving bot gives each sender this long to send what it still holds


async def finish_or_cancel(task: asyncio.Task[Any]) -> None:
    """Let a sender finish what it still has to send, for a few seconds, then give it up."""
    try:
        await asyncio.wait_for(asyncio.shield(task), CLOSE_GRACE_S)
    except Exception:  # the time is up (TimeoutError) or the sender failed: either way, done
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
