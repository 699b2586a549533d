"""Microsoft Teams as an anonymous guest in the browser: the selector table and pre-join flow.

Everything the bot looks for on a Teams page is in SELECTORS: accessible names and data-tid
attributes, several candidates in order. All remote audio arrives mixed in one stream; who
speaks is timed by its RTP contributing sources and named by each tile's voice-level outline
(bot/speakers.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.meeting_page import MeetingPage
    from bot.probe import Probe

NAME = "teams"

SELECTORS: dict[str, Any] = {
    "selectors": {
        "continue_browser": [["button", "Continue on this browser"], ["css", "[data-tid='joinOnWeb']"],
                             ["button", "Join on the web instead"]],
        "name_input": [["placeholder", "Type your name"], ["css", "[data-tid='prejoin-display-name-input']"],
                       ["label", "Type your name"], ["placeholder", "name"]],
        "camera_switch": [["css", "[data-tid='toggle-video']"], ["css", "[role=switch][aria-label*='Camera' i]"],
                          ["css", "[role=switch][title*='camera' i]"]],
        "mic_switch": [["css", "[data-tid='toggle-mute']"], ["css", "[role=switch][aria-label*='Microphone' i]"],
                       ["css", "[role=switch][title*='mic' i]"]],
        "computer_audio": [["css", "[data-tid='prejoin-audiosettings-computer-audio']"],
                           ["css", "[role=radio][aria-label*='Computer audio' i]"], ["button", "Computer audio"]],
        "join": [["css", "[data-tid='prejoin-join-button']"], ["button", "Join now"]],
        "leave": [["css", "#hangup-button"], ["css", "[data-tid='hangup-main-btn']"], ["button", "Leave"],
                  ["css", "[data-tid='call-hangup']"]],
        "leave_confirm": [],
        "people": [["css", "[data-tid='roster-button']"], ["css", "#roster-button"], ["button", "People"],
                   ["button", "Show participants"]],
        "tiles": [["css", "[data-tid='voice-level-stream-outline']"]],
        "tile_name": [["attr", "aria-label"], ["attr", "data-tid"], ["css", "span"]],
        "speaking": [["css", ".vdi-frame-occlusion"]],
        "roster_items": [["css", "[aria-label*='Participants' i] [role=menuitem]"],
                         ["css", "[data-tid*='roster' i] [role=menuitem]"], ["css", "[role=menu] [role=menuitem]"]],
    },
    "texts": {
        "lobby": ["Someone in the meeting should let you in soon",
                  "When the meeting starts, we'll let people know you're waiting", "You're in the lobby"],
        "rejected": ["Sorry, but you were denied access to the meeting", "you were denied access"],
        "removed": ["You've been removed from this meeting", "removed you from the meeting"],
        "ended": ["The meeting has ended", "You have left the meeting", "This meeting has ended"],
        "page_error": ["This meeting link is invalid", "We couldn't find the meeting",
                       "This meeting doesn't exist", "The meeting link is no longer valid"],
    },
    "tile": "[data-cid='calling-participant-stream'], [data-stream-type]",
    "speaking_fallback": False,
}

MIXED_AUDIO = True


def admitted(probe: Probe) -> bool:
    """The hang-up button, and neither lobby text nor the join button."""
    s = probe.signals
    return bool(s.get("leave")) and not s.get("join") and not probe.texts.get("lobby")


async def prejoin(page: MeetingPage, bot_name: str, timeout_s: float) -> None:
    await page.wait_for(
        lambda p: p.has_any("continue_browser", "name_input", "join") or p.texts.get("page_error"),
        timeout_s, "the Teams join page",
    )
    if await page.has("continue_browser"):
        await page.click("continue_browser")
        await page.wait_for(lambda p: p.has_any("name_input", "join") or p.texts.get("page_error"),
                            timeout_s, "the Teams pre-join screen")
    if await page.has("name_input"):
        await page.fill("name_input", bot_name)
    camera = await page.state_of("camera_switch")
    if camera and camera.get("checked") == "true":
        await page.click("camera_switch")
    # "Computer audio", even where "Don't use audio" was preselected: else no audio reaches us.
    audio = await page.state_of("computer_audio")
    if audio and audio.get("checked") != "true":
        await page.click("computer_audio")
    mic = await page.state_of("mic_switch")
    if mic and mic.get("checked") == "true":
        await page.click("mic_switch")
    await page.screenshot("prejoin")
    await page.click("join")
