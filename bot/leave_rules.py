"""When an admitted bot ends its meeting on its own: the leave rules, fed with looks at the page.

At each look (`LeaveRules.decide`, with the page's probe, whether remote speech was heard
lately, and a monotonic clock), in this order:

- the page says the bot was removed -> `removed`; it says the meeting ended -> `meeting_ended`;
- the call controls have been gone for more than NO_CONTROLS_S -> `meeting_ended` (a page that
  left the call without saying so);
- someone else was there (on the roster or the tiles, or remote speech within
  REMOTE_AUDIO_WINDOW_S) and nobody has been for `left_alone_timeout_s` -> `left_alone`;
- nobody else came within `nobody_joined_timeout_s` of admission -> `nobody_joined`;
- `max_duration_s` after admission -> `max_duration`.

No browser: the session (bot.session) looks at the page and leaves; this only decides.
"""

from __future__ import annotations

import logging

from appliance.lifecycle import CompletionReason
from bot.probe import Probe

log = logging.getLogger("vomeet.bot")
REMOTE_AUDIO_WINDOW_S = 3.0  # remote speech this recent means someone is still there
NO_CONTROLS_S = 15.0  # call controls missing this long: the call is over


def others_in(probe: Probe, bot_name: str) -> int:
    """Participants other than the bot: the roster where it is open, else the tiles."""
    me = bot_name.strip().lower()

    def others(names: list[str]) -> int:
        return sum(1 for n in names if n and n.strip().lower() not in (me, "you")
                   and "(you)" not in n.lower() and not n.strip().lower().startswith(me + " "))

    if probe.roster:
        return others(probe.roster)
    return others(probe.tiles)


class LeaveRules:
    def __init__(self, bot_name: str, *, admitted_at: float, left_alone_timeout_s: float,
                 nobody_joined_timeout_s: float, max_duration_s: float) -> None:
        self.bot_name = bot_name
        self.admitted_at = admitted_at
        self.left_alone_timeout_s = left_alone_timeout_s
        self.nobody_joined_timeout_s = nobody_joined_timeout_s
        self.max_duration_s = max_duration_s
        self.someone_seen = False
        self.alone_since: float | None = None
        self.no_controls_since: float | None = None

    def decide(self, probe: Probe, heard_recently: bool, now: float) -> CompletionReason | None:
        """Why the bot leaves now, or None to stay."""
        if probe.texts.get("removed"):
            return CompletionReason.REMOVED
        if probe.texts.get("ended"):
            return CompletionReason.MEETING_ENDED
        if not probe.signals.get("leave"):
            if self.no_controls_since is None:
                self.no_controls_since = now
            if now - self.no_controls_since > NO_CONTROLS_S:
                log.warning("the call controls are gone; the page shows %r", probe.body[:200])
                return CompletionReason.MEETING_ENDED
        else:
            self.no_controls_since = None
        others = others_in(probe, self.bot_name)
        if others > 0 or heard_recently:
            self.someone_seen = True
            if self.alone_since is not None:
                log.info("not alone any more (%d others)", others)
            self.alone_since = None
        elif self.someone_seen and self.alone_since is None:
            log.info("everyone else seems gone; leaving after %g s unless someone is back",
                     self.left_alone_timeout_s)
            self.alone_since = now
        if self.alone_since is not None and now - self.alone_since >= self.left_alone_timeout_s:
            return CompletionReason.LEFT_ALONE
        if not self.someone_seen and now - self.admitted_at >= self.nobody_joined_timeout_s:
            return CompletionReason.NOBODY_JOINED
        if now - self.admitted_at >= self.max_duration_s:
            return CompletionReason.MAX_DURATION
        return None
