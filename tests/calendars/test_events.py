"""Where an invitation's meeting link is found, as calendar apps write it."""

from __future__ import annotations

from pathlib import Path

from appliance.calendars.events import find_meeting_url
from appliance.config import load_settings

TEAMS = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ5ZTBjZGItZjY1Ny00YjQ1LWI4ZjctYmM3YzZmNjQ0ODlk"
         "%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf%22%7d")
OUTLOOK_BODY = f"""Microsoft Teams meeting
Join on your computer, mobile app or room device
Click here to join the meeting<{TEAMS}>
Meeting ID: 123 456 789 012"""


def test_links_as_calendar_apps_write_them(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert find_meeting_url([None, "", OUTLOOK_BODY], settings) == TEAMS  # Outlook's <...> around it
    assert find_meeting_url(["Join: https://meet.google.com/abc-defg-hij."], settings) == (
        "https://meet.google.com/abc-defg-hij")  # the sentence's full stop is not part of it
    # Zoom has no bot yet: the next link a bot can join is taken.
    assert find_meeting_url(["https://zoom.us/j/1234567890 or https://meet.google.com/abc-defg-hij"], settings) == (
        "https://meet.google.com/abc-defg-hij")
    # The first field that has one wins (the conference field before a description's links).
    assert find_meeting_url(["https://meet.google.com/xyz-abcd-efg", OUTLOOK_BODY], settings) == (
        "https://meet.google.com/xyz-abcd-efg")
    assert find_meeting_url(["Room 4.12, https://example.com/agenda", None], settings) is None
