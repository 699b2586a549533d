"""Google Meet as a guest who is not signed in: the selector table and the pre-join flow.

Everything the bot looks for on a Meet page is in SELECTORS: accessible names first, then
attributes, several candidates in order (the first that matches wins). Meet renames its
obfuscated class names without notice: they are only used for the speaking indicator, and a
tile whose indicator keeps changing while a channel carries speech is recognised as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.meeting_page import MeetingPage
    from bot.probe import Probe

NAME = "google_meet"

SELECTORS: dict[str, Any] = {
    "selectors": {
        "name_input": [["label", "Your name"], ["placeholder", "Your name"], ["placeholder", "name"],
                       ["css", "input[type=text][aria-label*='name' i]"]],
        "mic_on": [["css", "[aria-label^='Turn off microphone' i]"], ["button", "Turn off microphone"]],
        "camera_on": [["css", "[aria-label^='Turn off camera' i]"], ["button", "Turn off camera"]],
        "join": [["button", "Ask to join"], ["button", "Join now"], ["button", "Join anyway"]],
        "leave": [["button", "Leave call"], ["css", "[aria-label*='Leave call' i]"],
                  ["css", "[jsname='CQylAd']"]],
        "leave_confirm": [["button", "Just leave the call"], ["button", "Leave meeting"]],
        "people": [["button", "People"], ["button", "Show everyone"], ["css", "[aria-label^='People' i]"]],
        "chat": [["button", "Chat with everyone"], ["css", "[aria-label*='Chat with everyone' i]"]],
        "toolbar": [["css", "[role=region][aria-label*='Call controls' i]"], ["css", "[jscontroller][role=toolbar]"]],
        "tiles": [["css", "[data-participant-id]"], ["css", "[data-requested-participant-id]"]],
        # Inside a tile (each candidate is tried in the tile).
        "tile_name": [["css", ".zWGUib"], ["css", "[data-self-name]"], ["css", ".XEazBc"],
                      ["css", ".notranslate"], ["attr", "aria-label"]],
        "speaking": [["css", ".Oaajhc"], ["css", ".HX2H7"], ["css", ".wEsLMd"], ["css", ".OgVli"]],
        "silent": [["css", ".gjg47c"]],
        "roster_items": [],  # the people panel is not needed: tiles are counted
    },
    "texts": {
        "lobby": ["Asking to be let in", "You'll join the call when someone lets you in",
                  "Waiting for the host to join", "Please wait until a meeting host brings you into the call"],
        "rejected": ["Your request to join wasn't accepted", "Someone in the call denied your request to join",
                     "You can't join this video call"],
        "removed": ["You've been removed from the meeting", "Someone has removed you from the meeting"],
        "ended": ["The call ended", "Meeting ended", "You left the meeting", "The meeting has ended"],
        "page_error": ["Meeting not found", "Check your meeting code", "Invalid video call name",
                       "You can't join this video call", "This meeting link is invalid"],
    },
    "tile": "[data-participant-id]",
    "speaking_fallback": True,
}

MIXED_AUDIO = False  # Meet forwards the loudest few speakers on separate streams


def admitted(probe: Probe) -> bool:
    """At least two in-call controls, no join button and no lobby text."""
    s = probe.signals
    in_call = sum(bool(s.get(k)) for k in ("leave", "people", "chat", "toolbar", "tiles"))
    return in_call >= 2 and not s.get("join") and not probe.texts.get("lobby")


async def prejoin(page: MeetingPage, bot_name: str, timeout_s: float) -> None:
    """From the opened link to a clicked join button (either variant)."""
    await page.wait_for(lambda p: p.signals.get("join") or p.texts.get("page_error"), timeout_s,
                        "the pre-join screen")
    if await page.has("name_input"):
        await page.fill("name_input", bot_name)
    for toggle in ("mic_on", "camera_on"):  # "Turn off ..." present = still on
        if await page.has(toggle):
            await page.click(toggle)
    await page.screenshot("prejoin")
    await page.click("join")
