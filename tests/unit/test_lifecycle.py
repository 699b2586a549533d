"""appliance/lifecycle.py against the contract's lifecycle table (section 5), all 7x7 pairs."""

from __future__ import annotations

import itertools

import pytest

from appliance.lifecycle import (
    LIVE_STATES,
    TERMINAL_STATES,
    CompletionReason,
    FailureStage,
    IllegalTransition,
    MeetingStatus,
    check_move,
    failure_stage_for,
    is_allowed,
)

# Written out from the contract, independently of the module's own table.
CONTRACT_MOVES = {
    "requested": {"joining", "stopping", "completed", "failed"},
    "joining": {"awaiting_admission", "active", "stopping", "completed", "failed"},
    "awaiting_admission": {"active", "stopping", "completed", "failed"},
    "active": {"stopping", "completed", "failed"},
    "stopping": {"completed", "failed"},
    "completed": set(),
    "failed": set(),
}
STATES = list(CONTRACT_MOVES)
PAIRS = list(itertools.product(STATES, STATES))
CONTRACT_REASONS = [
    "stopped", "left_alone", "nobody_joined", "admission_timeout", "admission_rejected",
    "removed", "meeting_ended", "max_duration",
]


def test_the_vocabulary_is_the_contracts() -> None:
    assert [s.value for s in MeetingStatus] == STATES
    assert [r.value for r in CompletionReason] == CONTRACT_REASONS
    assert {f.value for f in FailureStage} == {"requested", "joining", "awaiting_admission", "active"}
    assert {s.value for s in TERMINAL_STATES} == {"completed", "failed"}
    assert {s.value for s in LIVE_STATES} == set(STATES) - {"completed", "failed"}
    assert len(PAIRS) == 49


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_every_pair_is_allowed_or_refused_as_the_contract_says(current: str, target: str) -> None:
    allowed = target in CONTRACT_MOVES[current]
    assert is_allowed(MeetingStatus(current), MeetingStatus(target)) is allowed
    reason = "stopped" if target == "completed" else None
    if allowed:
        result = check_move(MeetingStatus(current), MeetingStatus(target), reason)
        assert result == (CompletionReason.STOPPED if target == "completed" else None)
    else:
        with pytest.raises(IllegalTransition, match=f"cannot move from {current} to {target}"):
            check_move(MeetingStatus(current), MeetingStatus(target), reason)


@pytest.mark.parametrize("current", [s for s in STATES if "completed" in CONTRACT_MOVES[s]])
@pytest.mark.parametrize("reason", CONTRACT_REASONS)
def test_every_known_completion_reason_is_accepted(current: str, reason: str) -> None:
    assert check_move(MeetingStatus(current), MeetingStatus.COMPLETED, reason) == CompletionReason(reason)


@pytest.mark.parametrize("reason", ["finished", "Stopped", "", "kicked", "error"])
def test_an_unknown_completion_reason_is_refused_not_turned_into_stopped(reason: str) -> None:
    with pytest.raises(IllegalTransition, match="unknown completion_reason") as refused:
        check_move(MeetingStatus.ACTIVE, MeetingStatus.COMPLETED, reason)
    assert "stopped, left_alone" in str(refused.value)  # the message lists the known reasons


def test_a_completion_needs_a_reason() -> None:
    with pytest.raises(IllegalTransition, match="needs a completion_reason"):
        check_move(MeetingStatus.STOPPING, MeetingStatus.COMPLETED, None)


def test_a_reason_on_other_moves_is_carried_but_not_parsed() -> None:
    assert check_move(MeetingStatus.JOINING, MeetingStatus.FAILED, "chromium crashed") is None
    assert check_move(MeetingStatus.ACTIVE, MeetingStatus.STOPPING, "stop requested") is None


@pytest.mark.parametrize(
    ("state", "stage"),
    [("requested", "requested"), ("joining", "joining"), ("awaiting_admission", "awaiting_admission"),
     ("active", "active"), ("stopping", "active")],
)
def test_failure_stage_is_the_state_the_bot_was_in(state: str, stage: str) -> None:
    assert failure_stage_for(MeetingStatus(state)) == FailureStage(stage)


@pytest.mark.parametrize("state", ["completed", "failed"])
def test_an_ended_meeting_has_no_failure_stage(state: str) -> None:
    with pytest.raises(IllegalTransition, match="no failure stage"):
        failure_stage_for(MeetingStatus(state))
