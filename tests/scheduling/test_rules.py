"""Auto-join rules: each decision and the reason a user reads for it."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.scheduling.rules import Rules, RulesError, decide, effective_rules
from tests.scheduling.conftest import event

OWNER = "ann@example.com"


@pytest.mark.parametrize(
    ("rules", "changes", "override", "expected"),
    [
        ({}, {}, None, (True, "rule: all")),
        ({}, {"private": True}, None, (False, "private")),
        ({"skip_private": False}, {"private": True}, None, (True, "rule: all")),
        ({}, {"status": "declined"}, None, (False, "declined")),
        ({"mode": "none"}, {}, None, (False, "auto-join off")),
        ({"mode": "organised"}, {}, None, (False, "not organised by you")),
        ({"mode": "organised"}, {"organizer": OWNER, "status": None}, None, (True, "rule: organised")),
        ({"mode": "accepted"}, {"status": "tentative"}, None, (False, "not accepted")),
        ({"mode": "accepted"}, {"status": "accepted"}, None, (True, "rule: accepted")),
        ({"mode": "accepted"}, {"organizer": OWNER, "status": None}, None, (True, "rule: accepted")),
        ({"mode": "keyword", "keywords": ["Retro"]}, {"title": "Sprint retro"}, None, (True, "rule: keyword")),
        ({"mode": "keyword", "keywords": ["retro"]}, {"title": "Lunch"}, None, (False, "keyword not matched")),
        ({"mode": "none"}, {}, "join", (True, "override: join")),
        ({}, {"private": True}, "join", (True, "override: join")),
        ({}, {}, "skip", (False, "override: skip")),
        ({}, {"cancelled": True}, "join", (False, "cancelled")),
    ],
)
def test_decisions_and_their_reasons(
    rules: dict[str, Any], changes: dict[str, Any], override: str | None, expected: tuple[bool, str]
) -> None:
    decision = decide(event(owner=OWNER, **changes), Rules.parse(rules), override)
    assert (decision.join, decision.reason) == expected


def test_a_link_no_bot_can_join_is_the_reason_whatever_the_override() -> None:
    decision = decide(event(owner=OWNER), Rules(), "join", link_problem="no supported link")
    assert (decision.join, decision.reason) == (False, "no supported link")


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"mode": "sometimes"}, "`mode`"),
        ({"mode": "keyword"}, "at least one keyword"),
        ({"keywords": "retro"}, "`keywords`"),
        ({"skip_private": "yes"}, "`skip_private`"),
    ],
)
def test_rules_that_cannot_be_evaluated_say_what_to_fix(raw: dict[str, Any], says: str) -> None:
    with pytest.raises(RulesError, match=says):
        Rules.parse(raw)


def test_the_connection_rules_win_then_the_user_default_then_all_but_private() -> None:
    user = {"auto_join_rules": {"mode": "accepted"}}
    assert effective_rules({"mode": "organised"}, user).mode == "organised"
    assert effective_rules({}, user).mode == "accepted"
    assert effective_rules(None, {}) == Rules(mode="all", keywords=(), skip_private=True)
    assert effective_rules({"mode": "sometimes"}, user).mode == "none", "broken stored rules join nothing"
