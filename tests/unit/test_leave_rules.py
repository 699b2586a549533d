"""bot/leave_rules.py: when an admitted bot leaves on its own, each rule at its boundary, from
plain probes (no browser) and a clock in seconds since admission."""

from __future__ import annotations

from appliance.lifecycle import CompletionReason
from bot.leave_rules import NO_CONTROLS_S, LeaveRules, others_in
from bot.probe import Probe

BOT = "Vomeet Notetaker"
LEFT_ALONE_S, NOBODY_S, MAX_S = 60.0, 600.0, 14400.0


def rules() -> LeaveRules:
    return LeaveRules(BOT, admitted_at=0.0, left_alone_timeout_s=LEFT_ALONE_S,
                      nobody_joined_timeout_s=NOBODY_S, max_duration_s=MAX_S)


def page(*tiles: str, controls: bool = True, roster: tuple[str, ...] = (), **texts: str) -> Probe:
    """A call page: the bot's own tile plus `tiles`, the Leave button unless `controls` is off."""
    return Probe(signals={"leave": controls}, texts=dict(texts), tiles=[BOT, *tiles], roster=list(roster),
                 body="", url="https://meet.example/abc")


def test_removed_and_ended_texts_end_the_meeting_at_once() -> None:
    assert rules().decide(page("Alice", removed="You've been removed"), False, 1.0) == CompletionReason.REMOVED
    assert rules().decide(page("Alice", ended="The call ended"), False, 1.0) == CompletionReason.MEETING_ENDED
    both = page("Alice", removed="You've been removed", ended="The call ended")
    assert rules().decide(both, False, 1.0) == CompletionReason.REMOVED


def test_missing_call_controls_end_the_meeting_only_after_a_while() -> None:
    leave = rules()
    leave.decide(page("Alice"), False, 0.0)
    assert leave.decide(page("Alice", controls=False), False, 10.0) is None
    assert leave.decide(page("Alice", controls=False), False, 10.0 + NO_CONTROLS_S) is None
    assert leave.decide(page("Alice", controls=False), False, 10.1 + NO_CONTROLS_S) == CompletionReason.MEETING_ENDED


def test_call_controls_that_come_back_restart_the_count() -> None:
    leave = rules()
    assert leave.decide(page("Alice", controls=False), False, 0.0) is None
    assert leave.decide(page("Alice"), False, 10.0) is None
    assert leave.decide(page("Alice", controls=False), False, 20.0) is None
    assert leave.decide(page("Alice", controls=False), False, 20.0 + NO_CONTROLS_S) is None
    assert leave.decide(page("Alice", controls=False), False, 20.1 + NO_CONTROLS_S) == CompletionReason.MEETING_ENDED


def test_left_alone_once_everyone_else_has_been_gone_for_the_timeout() -> None:
    leave = rules()
    assert leave.decide(page("Alice"), False, 5.0) is None
    assert leave.decide(page(), False, 30.0) is None  # Alice left: the count starts
    assert leave.decide(page(), False, 30.0 + LEFT_ALONE_S - 0.1) is None
    assert leave.decide(page(), False, 30.0 + LEFT_ALONE_S) == CompletionReason.LEFT_ALONE


def test_someone_back_before_the_timeout_keeps_the_bot() -> None:
    leave = rules()
    leave.decide(page("Alice"), False, 5.0)
    leave.decide(page(), False, 30.0)
    assert leave.decide(page("Bob"), False, 80.0) is None
    assert leave.decide(page(), False, 100.0) is None  # gone again: a new count from here
    assert leave.decide(page(), False, 100.0 + LEFT_ALONE_S - 0.1) is None
    assert leave.decide(page(), False, 100.0 + LEFT_ALONE_S) == CompletionReason.LEFT_ALONE


def test_remote_speech_counts_as_someone_there() -> None:
    leave = rules()
    assert leave.decide(page(), True, 5.0) is None  # no tile, but someone speaks
    assert leave.decide(page(), True, 5.0 + LEFT_ALONE_S) is None
    assert leave.decide(page(), False, 10.0 + LEFT_ALONE_S) is None  # silence starts the count
    assert leave.decide(page(), False, 10.0 + 2 * LEFT_ALONE_S) == CompletionReason.LEFT_ALONE


def test_nobody_joined_at_the_timeout_after_admission() -> None:
    leave = rules()
    assert leave.decide(page(), False, NOBODY_S - 0.1) is None
    assert leave.decide(page(), False, NOBODY_S) == CompletionReason.NOBODY_JOINED


def test_nobody_joined_does_not_apply_once_someone_came() -> None:
    leave = rules()
    leave.decide(page("Alice"), False, 1.0)
    assert leave.decide(page("Alice"), False, NOBODY_S + 1) is None


def test_max_duration_ends_even_a_busy_meeting() -> None:
    leave = rules()
    assert leave.decide(page("Alice"), True, MAX_S - 0.1) is None
    assert leave.decide(page("Alice"), True, MAX_S) == CompletionReason.MAX_DURATION


def test_the_bot_does_not_count_itself() -> None:
    for own in (BOT, "vomeet notetaker", "You", "Vomeet Notetaker (You)", f"{BOT} (presenting)", ""):
        assert others_in(page(own), BOT) == 0, own
    assert others_in(page("Alice", "Bob"), BOT) == 2


def test_the_open_roster_counts_instead_of_the_tiles() -> None:
    # Teams: tiles show only some; the people pane lists everyone (bot included).
    assert others_in(page("Alice", roster=(BOT, "Alice", "Bob", "Carol")), BOT) == 3
    leave = rules()
    leave.decide(page("Alice", roster=(BOT, "Alice")), False, 1.0)
    assert leave.decide(page("Alice", roster=(BOT,)), False, 2.0) is None
    assert leave.decide(page("Alice", roster=(BOT,)), False, 2.0 + LEFT_ALONE_S) == CompletionReason.LEFT_ALONE
