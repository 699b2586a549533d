"""The bot lifecycle: states, allowed moves and the closed lists of reasons.

This module is shared by the server and the bot, so both speak the same closed vocabulary:
a reason outside these lists is a bug and is refused, never mapped to "stopped".
"""

from __future__ import annotations

from enum import StrEnum


class MeetingStatus(StrEnum):
    REQUESTED = "requested"
    JOINING = "joining"
    AWAITING_ADMISSION = "awaiting_admission"
    ACTIVE = "active"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"


class CompletionReason(StrEnum):
    STOPPED = "stopped"
    LEFT_ALONE = "left_alone"
    NOBODY_JOINED = "nobody_joined"
    ADMISSION_TIMEOUT = "admission_timeout"
    ADMISSION_REJECTED = "admission_rejected"
    REMOVED = "removed"
    MEETING_ENDED = "meeting_ended"
    MAX_DURATION = "max_duration"


class FailureStage(StrEnum):
    REQUESTED = "requested"
    JOINING = "joining"
    AWAITING_ADMISSION = "awaiting_admission"
    ACTIVE = "active"


class TransitionSource(StrEnum):
    USER = "user"
    BOT = "bot"
    SYSTEM = "system"


S = MeetingStatus
ALLOWED_MOVES: dict[MeetingStatus, frozenset[MeetingStatus]] = {
    S.REQUESTED: frozenset({S.JOINING, S.STOPPING, S.COMPLETED, S.FAILED}),
    S.JOINING: frozenset({S.AWAITING_ADMISSION, S.ACTIVE, S.STOPPING, S.COMPLETED, S.FAILED}),
    S.AWAITING_ADMISSION: frozenset({S.ACTIVE, S.STOPPING, S.COMPLETED, S.FAILED}),
    S.ACTIVE: frozenset({S.STOPPING, S.COMPLETED, S.FAILED}),
    S.STOPPING: frozenset({S.COMPLETED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
}
TERMINAL_STATES = frozenset({S.COMPLETED, S.FAILED})
LIVE_STATES = frozenset(set(MeetingStatus) - TERMINAL_STATES)


class IllegalTransition(Exception):
    """A move the lifecycle table does not allow, or a reason outside the closed lists."""


def is_allowed(current: MeetingStatus, target: MeetingStatus) -> bool:
    return target in ALLOWED_MOVES[current]


def failure_stage_for(state: MeetingStatus) -> FailureStage:
    """The stage a failure is attributed to: the state the bot was in (stopping counts as active)."""
    if state == S.STOPPING:
        return FailureStage.ACTIVE
    try:
        return FailureStage(state.value)
    except ValueError as exc:
        raise IllegalTransition(f"no failure stage for a meeting already {state}") from exc


def check_move(
    current: MeetingStatus, target: MeetingStatus, reason: str | None
) -> CompletionReason | None:
    """Validate a move and its reason; returns the parsed completion reason for `completed`."""
    if not is_allowed(current, target):
        raise IllegalTransition(f"cannot move from {current} to {target}")
    if target == S.COMPLETED:
        if reason is None:
            raise IllegalTransition("a move to completed needs a completion_reason")
        try:
            return CompletionReason(reason)
        except ValueError as exc:
            known = ", ".join(r.value for r in CompletionReason)
            raise IllegalTransition(f"unknown completion_reason {reason!r} (known: {known})") from exc
    return None
