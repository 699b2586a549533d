"""One look at the meeting page: what the page kit (bot/pagekit.js) read from it in one call.

Plain data, so what a look means (bot.admission, bot.leave_rules, each platform's admission
test) is decided without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Probe:
    signals: dict[str, bool]  # selector-table key -> an element for it is visible
    texts: dict[str, str | None]  # text-table key (lobby, rejected, ...) -> the text seen, if any
    tiles: list[str]  # the participants' tile names
    roster: list[str]  # the people pane's names, where it is open
    body: str
    url: str

    def has_any(self, *keys: str) -> bool:
        return any(self.signals.get(k) for k in keys)
