"""The WebSocket close codes the appliance sends (/ws, /internal/bot/audio), in one leaf module
that the endpoints, the live sockets and the bot import (api-contract.md: a bad key closes 4401)."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    # The key or token is not valid, or no longer (revoked, its user deleted): do not retry with it.
    BAD_CREDENTIAL = 4401
    # The meeting does not record: the bot stops sending its audio.
    NOT_RECORDING = 4403


# Closes after which a bot's recording stream stops for good instead of reconnecting.
ENDS_RECORDING = frozenset({CloseCode.BAD_CREDENTIAL, CloseCode.NOT_RECORDING, CloseCode.NORMAL})
