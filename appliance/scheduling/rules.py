"""Auto-join rules: whether one user wants a bot in one calendar event, and why (pure).

Rules are JSON on each calendar connection (`calendar_connections.rules`), with a per-user
default in `users.data["auto_join_rules"]`:
`{"mode": "all" | "organised" | "accepted" | "keyword" | "none", "keywords": [...], "skip_private": true}`.
A per-event override (`join`, `skip`) beats the rules; nothing beats a missing link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from appliance.calendars.provider import CalendarEvent

Mode = Literal["all", "organised", "accepted", "keyword", "none"]
MODES: tuple[str, ...] = ("all", "organised", "accepted", "keyword", "none")
Override = Literal["join", "skip"]
OVERRIDES: tuple[str, ...] = ("join", "skip")
USER_DEFAULT_KEY = "auto_join_rules"  # in users.data


class RulesError(ValueError):
    """Rules that cannot be evaluated; the message says what to fix."""


@dataclass(frozen=True)
class Rules:
    mode: Mode = "all"
    keywords: tuple[str, ...] = ()
    skip_private: bool = True

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Rules:
        mode = raw.get("mode", "all")
        if mode not in MODES:
            raise RulesError(f"`mode` must be one of {', '.join(MODES)}, not {mode!r}")
        keywords = raw.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
            raise RulesError("`keywords` must be a list of non-empty strings")
        if mode == "keyword" and not keywords:
            raise RulesError("mode `keyword` needs at least one keyword")
        skip_private = raw.get("skip_private", True)
        if not isinstance(skip_private, bool):
            raise RulesError("`skip_private` must be true or false")
        return cls(mode, tuple(k.strip() for k in keywords), skip_private)

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "keywords": list(self.keywords), "skip_private": self.skip_private}


def effective_rules(connection_rules: Mapping[str, Any] | None, user_data: Mapping[str, Any]) -> Rules:
    """The connection's rules if it has any, else the user's default, else join everything with a
    link except private events. Stored rules that no longer parse join nothing (safe side)."""
    for raw in (connection_rules, user_data.get(USER_DEFAULT_KEY)):
        if isinstance(raw, Mapping) and raw:
            try:
                return Rules.parse(raw)
            except RulesError:
                return Rules(mode="none")
    return Rules()


@dataclass(frozen=True)
class Decision:
    join: bool
    reason: str


def decide(
    event: CalendarEvent, rules: Rules, override: str | None, link_problem: str | None = None
) -> Decision:
    """One user's decision on one event. `link_problem` says why its link cannot take a bot."""
    if link_problem is not None:
        return Decision(False, link_problem)
    if event.cancelled:
        return Decision(False, "cancelled")
    if event.all_day:
        return Decision(False, "all-day event")
    if override in OVERRIDES:
        return Decision(override == "join", f"override: {override}")
    organiser = bool(event.organizer_email) and (
        (event.organizer_email or "").lower() == event.owner_email.lower()
    )
    if event.attendee_status == "declined" and not organiser:
        return Decision(False, "declined")
    if rules.skip_private and event.is_private:
        return Decision(False, "private")
    if rules.mode == "none":
        return Decision(False, "auto-join off")
    if rules.mode == "organised" and not organiser:
        return Decision(False, "not organised by you")
    if rules.mode == "accepted" and not (organiser or event.attendee_status == "accepted"):
        return Decision(False, "not accepted")
    if rules.mode == "keyword":
        title = event.title.casefold()
        if not any(k.casefold() in title for k in rules.keywords):
            return Decision(False, "keyword not matched")
    return Decision(True, f"rule: {rules.mode}")
