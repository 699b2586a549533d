"""Meeting identity: validate native ids, parse pasted links, build the URL a bot opens.

Every error message says what was wrong and what a valid value looks like, because it is
returned to the user verbatim as a 422.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, quote, unquote, urlsplit

from appliance.config import Settings


class Platform(StrEnum):
    GOOGLE_MEET = "google_meet"
    TEAMS = "teams"
    ZOOM = "zoom"


# Platforms a bot can join. Zoom links are recognised (and their meetings kept in listings) but
# no Zoom bot exists yet, so a bot request for one is refused. bot/platform.py's PLATFORMS must match
# (tests/unit/test_meeting_urls.py checks it).
BOT_PLATFORMS = frozenset({Platform.GOOGLE_MEET, Platform.TEAMS})
NO_BOT_YET = (
    "{platform} meetings are recognised, but Vomeet has no {platform} bot yet; "
    "send the bot to a Google Meet or Microsoft Teams meeting."
)
PLATFORM_NAMES = {Platform.GOOGLE_MEET: "Google Meet", Platform.TEAMS: "Microsoft Teams", Platform.ZOOM: "Zoom"}


class MeetingUrlError(ValueError):
    """The meeting id, passcode or link is not usable; the message says why."""


@dataclass(frozen=True)
class MeetingRef:
    platform: Platform
    native_meeting_id: str
    passcode: str | None = None
    # Set when the link must be opened as given (Teams legacy and enterprise links).
    join_url: str | None = None


MEET_CODE = re.compile(r"^[a-z]{3}-[a-z]{4}-[a-z]{3}$")
MEET_NICKNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,59}$")
TEAMS_NUMERIC_ID = re.compile(r"^\d{10,15}$")
TEAMS_THREAD_ID = re.compile(r"^19:meeting_[A-Za-z0-9_-]+@thread\.(v2|skype)$")
TEAMS_PASSCODE = re.compile(r"^[A-Za-z0-9]{4,20}$")
ZOOM_ID = re.compile(r"^\d{9,11}$")
ZOOM_PASSCODE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

MEET_HOSTS = {"meet.google.com"}
TEAMS_HOSTS = {"teams.live.com", "teams.microsoft.com", "teams.cloud.microsoft"}


def validate(platform: Platform, native_meeting_id: str, passcode: str | None) -> MeetingRef:
    """Check a platform's native id and passcode; returns the normalised reference."""
    native = native_meeting_id.strip()
    if platform == Platform.GOOGLE_MEET:
        native = native.lower()
        if passcode:
            raise MeetingUrlError("Google Meet meetings take no passcode; remove `passcode`.")
        if not (MEET_CODE.match(native) or MEET_NICKNAME.match(native)):
            raise MeetingUrlError(
                f"{native_meeting_id!r} is not a Google Meet code: expected three groups of "
                "lower-case letters like `abc-defg-hij`, or a Workspace nickname "
                "(letters, digits, '-' or '_')."
            )
    elif platform == Platform.TEAMS:
        if not (TEAMS_NUMERIC_ID.match(native) or TEAMS_THREAD_ID.match(native)):
            raise MeetingUrlError(
                f"{native_meeting_id!r} is not a Teams meeting id: expected 10-15 digits "
                "(from a teams.live.com/meet/<id> link)."
            )
        if TEAMS_NUMERIC_ID.match(native):
            if not passcode:
                raise MeetingUrlError(
                    "Teams meetings need `passcode` (the `p=` value of the link, 4-20 letters or digits)."
                )
            if not TEAMS_PASSCODE.match(passcode):
                raise MeetingUrlError(
                    f"Teams passcode {passcode!r} is invalid: expected 4-20 letters or digits."
                )
    elif platform == Platform.ZOOM:
        native = native.replace(" ", "")
        if not ZOOM_ID.match(native):
            raise MeetingUrlError(
                f"{native_meeting_id!r} is not a Zoom meeting id: expected 9-11 digits."
            )
        if passcode and not ZOOM_PASSCODE.match(passcode):
            raise MeetingUrlError(f"Zoom passcode {passcode!r} contains characters Zoom never uses.")
    return MeetingRef(platform, native, passcode or None)


def _host_of(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "").lower()


def parse_url(url: str, settings: Settings, passcode: str | None = None) -> MeetingRef:
    """Recognise a pasted Meet, Teams or Zoom link; `passcode` applies when the link carries none."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MeetingUrlError(
            f"{url!r} is not a web link: paste the meeting's https:// invitation link."
        )
    host = parts.hostname.lower()
    if host in MEET_HOSTS or host == _host_of(settings.google_meet_base_url):
        return _parse_meet(parts.path, passcode)
    if host in TEAMS_HOSTS or host == _host_of(settings.teams_base_url):
        return _parse_teams(url, parts.path, parts.query, parts.fragment, passcode)
    if host == "zoom.us" or host.endswith(".zoom.us") or host == _host_of(settings.zoom_base_url):
        return _parse_zoom(parts.path, parts.query, passcode)
    raise MeetingUrlError(
        f"{host} is not a supported meeting host: use a Google Meet (meet.google.com), "
        "Microsoft Teams (teams.live.com, teams.microsoft.com) or Zoom (zoom.us) link."
    )


def _parse_meet(path: str, passcode: str | None) -> MeetingRef:
    segments = [s for s in path.split("/") if s]
    if segments[:1] == ["lookup"]:
        segments = segments[1:]
    if len(segments) != 1:
        raise MeetingUrlError("a Google Meet link looks like https://meet.google.com/abc-defg-hij")
    return validate(Platform.GOOGLE_MEET, segments[0], passcode)


def _parse_teams(url: str, path: str, query: str, fragment: str, passcode: str | None) -> MeetingRef:
    # The fragment form (`.../#/meet/<id>?p=...`) carries its own path and query.
    if fragment.startswith("/"):
        inner = urlsplit(fragment)
        path, query = inner.path, inner.query
    match = re.search(r"/meet/(\d+)", path)
    if match:
        return validate(Platform.TEAMS, match.group(1), parse_qs(query).get("p", [passcode])[0])
    legacy = re.search(r"/l/meetup-join/([^/]+)", path)
    if legacy:
        thread = unquote(legacy.group(1))
        ref = validate(Platform.TEAMS, thread, None)
        return MeetingRef(ref.platform, ref.native_meeting_id, None, join_url=url.strip())
    raise MeetingUrlError(
        "this Teams link has no meeting in it: expected .../meet/<digits>?p=<passcode> "
        "or a .../l/meetup-join/... invitation link."
    )


def _parse_zoom(path: str, query: str, passcode: str | None) -> MeetingRef:
    # All the digits: a longer number must be refused by validate(), not cut to its first 11.
    match = re.search(r"/(?:j|wc/join|wc|s)/(\d+)", path)
    if not match:
        raise MeetingUrlError("a Zoom link looks like https://zoom.us/j/<9-11 digits>?pwd=<passcode>")
    return validate(Platform.ZOOM, match.group(1), parse_qs(query).get("pwd", [passcode])[0])


def join_url(ref: MeetingRef, settings: Settings) -> str:
    """The URL the bot opens, on the configured base URL of the platform."""
    if ref.join_url:
        return ref.join_url
    if ref.platform == Platform.GOOGLE_MEET:
        return f"{settings.google_meet_base_url}/{ref.native_meeting_id}"
    if ref.platform == Platform.TEAMS:
        return f"{settings.teams_base_url}/meet/{ref.native_meeting_id}?p={quote(ref.passcode or '')}"
    url = f"{settings.zoom_base_url}/wc/join/{ref.native_meeting_id}"
    return f"{url}?pwd={quote(ref.passcode)}" if ref.passcode else url
