"""Whether the bot got into the meeting after asking to join, from successive looks at the page.

Each look (`Admission.decide`, with the page's probe and a monotonic clock) ends in one of:

- refused (`admission_rejected`: a refusal or removal text) or `meeting_ended`;
- the platform's admission test passes (several in-call signals, no lobby text): look once more
  after CONFIRM_ADMISSION_S, since a page between lobby and call can show both; admitted if the
  second look agrees and shows no refusal, else an ordinary look;
- the first lobby text: the bot reports `awaiting_admission` (and keeps waiting);
- no admission within `waiting_room_timeout_s` of asking -> `admission_timeout`;
- else look again after ADMISSION_POLL_S.

The cues are the platforms' (docs: ../shared/platform-cues.md, bot/google_meet.py, bot/teams.py).
No browser: the session (bot.session) looks at the page; this only decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from appliance.lifecycle import CompletionReason
from bot.probe import Probe

log = logging.getLogger("vomeet.bot")
CONFIRM_ADMISSION_S = 1.0
ADMISSION_POLL_S = 0.5


@dataclass(frozen=True)
class Look:
    """What one look at the page decided."""

    outcome: CompletionReason | None = None  # the bot will not get in, and why
    admitted: bool = False
    confirm: bool = False  # it looks admitted: look again after CONFIRM_ADMISSION_S
    entered_lobby: str | None = None  # the lobby text, on the first look that shows it

    @property
    def delay_s(self) -> float:
        """How long to wait before the next look."""
        return CONFIRM_ADMISSION_S if self.confirm else ADMISSION_POLL_S


class Admission:
    def __init__(self, admitted: Callable[[Probe], bool], *, asked_at: float, waiting_room_timeout_s: float) -> None:
        self.admitted = admitted  # the platform's test (Platform.admitted)
        self.asked_at = asked_at
        self.waiting_room_timeout_s = waiting_room_timeout_s
        self.in_lobby = False
        self._confirming = False

    def decide(self, probe: Probe, now: float) -> Look:
        texts = probe.texts
        if self._confirming:
            self._confirming = False
            if self.admitted(probe) and not (texts.get("rejected") or texts.get("removed")):
                log.info("admitted (signals %s)", sorted(k for k, v in probe.signals.items() if v))
                return Look(admitted=True)
        if texts.get("rejected"):
            log.info("refused: %s", texts["rejected"])
            return Look(CompletionReason.ADMISSION_REJECTED)
        if texts.get("removed"):
            return Look(CompletionReason.ADMISSION_REJECTED)
        if texts.get("ended"):
            return Look(CompletionReason.MEETING_ENDED)
        if self.admitted(probe):
            self._confirming = True
            return Look(confirm=True)
        entered = None
        if texts.get("lobby") and not self.in_lobby:
            self.in_lobby = True
            entered = texts["lobby"]
        if now - self.asked_at > self.waiting_room_timeout_s:
            log.info("not admitted within %g s", self.waiting_room_timeout_s)
            return Look(CompletionReason.ADMISSION_TIMEOUT, entered_lobby=entered)
        return Look(entered_lobby=entered)
