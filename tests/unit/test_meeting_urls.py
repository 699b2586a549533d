"""appliance/meeting_urls.py: native ids, pasted links and the URL a bot opens."""

from __future__ import annotations

import pytest

from appliance.config import Settings, load_settings
from appliance.meeting_urls import MeetingRef, MeetingUrlError, Platform, join_url, parse_url, validate

G, T, Z = Platform.GOOGLE_MEET, Platform.TEAMS, Platform.ZOOM
LEGACY = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ3ZmM2YjctYjU4ZS00@thread.v2/0"
    "?context=%7b%22Tid%22%3a%22a1b2%22%2c%22Oid%22%3a%22c3d4%22%7d"
)


@pytest.fixture(scope="module")
def settings() -> Settings:
    # The shipped defaults, spelled out so that VOMEET_* variables of the caller cannot change them.
    return load_settings(
        google_meet_base_url="https://meet.google.com", teams_base_url="https://teams.live.com",
        zoom_base_url="https://app.zoom.us",
    )


@pytest.mark.parametrize(
    ("url", "platform", "native", "passcode"),
    [
        # Google Meet: codes, case, query strings, trailing slashes, nicknames and lookup/ links.
        ("https://meet.google.com/abc-defg-hij", G, "abc-defg-hij", None),
        ("https://meet.google.com/ABC-DEFG-HIJ?authuser=1&hs=122", G, "abc-defg-hij", None),
        ("http://meet.google.com/abc-defg-hij/", G, "abc-defg-hij", None),
        ("  https://meet.google.com/xyz-abcd-efg \n", G, "xyz-abcd-efg", None),
        ("https://meet.google.com/team-standup", G, "team-standup", None),
        ("https://meet.google.com/lookup/weekly_sync", G, "weekly_sync", None),
        ("https://meet.google.com/lookup/Board-Room2", G, "board-room2", None),
        # Teams: teams.live.com and teams.microsoft.com /meet/<id>?p=, and the #/meet fragment form.
        ("https://teams.live.com/meet/9876543210123?p=AbCdEf123", T, "9876543210123", "AbCdEf123"),
        ("https://teams.live.com/meet/1234567890?p=abcd&anon=true", T, "1234567890", "abcd"),
        ("https://teams.microsoft.com/meet/123456789012345?p=Pass1234", T, "123456789012345", "Pass1234"),
        ("https://teams.microsoft.com/v2/#/meet/9876543210123?p=Pass1234", T, "9876543210123", "Pass1234"),
        ("https://teams.live.com/_#/meet/9876543210123?p=XyZ98765", T, "9876543210123", "XyZ98765"),
        ("https://teams.cloud.microsoft/meet/9876543210123?p=Pw12", T, "9876543210123", "Pw12"),
        # Zoom: /j/<id>?pwd=, vanity and regional subdomains, the web client and /s/ links.
        ("https://zoom.us/j/81234567890?pwd=abcDEF.1", Z, "81234567890", "abcDEF.1"),
        ("https://us05web.zoom.us/j/81234567890?pwd=x1Y2z3", Z, "81234567890", "x1Y2z3"),
        ("https://acme.zoom.us/j/812345678", Z, "812345678", None),
        ("https://zoom.us/j/8123456789?pwd=Q2_-x&from=addon", Z, "8123456789", "Q2_-x"),
        ("https://app.zoom.us/wc/join/81234567890", Z, "81234567890", None),
        ("https://zoom.us/wc/81234567890/join?pwd=k", Z, "81234567890", "k"),
        ("https://zoom.us/s/81234567890", Z, "81234567890", None),
    ],
)
def test_links_are_recognised(
    settings: Settings, url: str, platform: Platform, native: str, passcode: str | None
) -> None:
    ref = parse_url(url, settings)
    assert (ref.platform, ref.native_meeting_id, ref.passcode) == (platform, native, passcode)
    assert ref.join_url is None


def test_a_legacy_teams_meetup_join_link_is_opened_as_given(settings: Settings) -> None:
    ref = parse_url(LEGACY, settings)
    assert ref.platform == T
    assert ref.native_meeting_id == "19:meeting_NjQ3ZmM2YjctYjU4ZS00@thread.v2"
    assert ref.passcode is None
    assert ref.join_url == LEGACY
    assert join_url(ref, settings) == LEGACY
    skype = parse_url("https://teams.microsoft.com/l/meetup-join/19%3Ameeting_abc@thread.skype/0", settings)
    assert skype.native_meeting_id == "19:meeting_abc@thread.skype"


def test_a_teams_link_on_the_configured_enterprise_host_is_recognised() -> None:
    corporate = load_settings(teams_base_url="https://teams.corp.example/")
    ref = parse_url("https://teams.corp.example/meet/9876543210123?p=Corp1234", corporate)
    assert (ref.platform, ref.native_meeting_id, ref.passcode) == (T, "9876543210123", "Corp1234")
    assert join_url(ref, corporate) == "https://teams.corp.example/meet/9876543210123?p=Corp1234"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "is not a web link"),
        ("meet.google.com/abc-defg-hij", "is not a web link"),
        ("ftp://meet.google.com/abc-defg-hij", "is not a web link"),
        ("javascript:alert(1)", "is not a web link"),
        ("https://example.com/abc-defg-hij", "example.com is not a supported meeting host"),
        ("https://meet.google.com.evil.example/abc-defg-hij", "is not a supported meeting host"),
        ("https://zoom.us.evil.example/j/81234567890", "is not a supported meeting host"),
        ("https://notzoom.us/j/81234567890", "is not a supported meeting host"),
        ("https://meet.google.com/", "a Google Meet link looks like https://meet.google.com/abc-defg-hij"),
        ("https://meet.google.com/abc-defg-hij/extra", "a Google Meet link looks like"),
        ("https://meet.google.com/ab%20cd", "is not a Google Meet code"),
        ("https://meet.google.com/lookup/", "a Google Meet link looks like"),
        ("https://teams.microsoft.com/v2/", "this Teams link has no meeting in it"),
        ("https://teams.live.com/meet/9876543210123", "Teams meetings need `passcode`"),
        ("https://teams.live.com/meet/123?p=abcd", "'123' is not a Teams meeting id: expected 10-15 digits"),
        ("https://teams.live.com/meet/1234567890123456?p=abcd", "is not a Teams meeting id"),
        ("https://teams.live.com/meet/9876543210123?p=a!", "Teams passcode 'a!' is invalid"),
        ("https://teams.live.com/meet/9876543210123?p=abc", "expected 4-20 letters or digits"),
        ("https://teams.microsoft.com/l/meetup-join/not-a-thread/0", "is not a Teams meeting id"),
        ("https://zoom.us/j/", "a Zoom link looks like https://zoom.us/j/<9-11 digits>?pwd=<passcode>"),
        ("https://zoom.us/my/alice.smith", "a Zoom link looks like"),
        ("https://zoom.us/j/1234?pwd=x", "'1234' is not a Zoom meeting id: expected 9-11 digits"),
        ("https://zoom.us/j/812345678901234", "'812345678901234' is not a Zoom meeting id"),
        ("https://zoom.us/j/81234567890?pwd=a%20b", "Zoom passcode 'a b' contains characters Zoom never uses"),
    ],
)
def test_unusable_links_are_refused_with_the_reason(settings: Settings, url: str, says: str) -> None:
    with pytest.raises(MeetingUrlError) as refused:
        parse_url(url, settings)
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("platform", "native", "passcode", "expected"),
    [
        (G, "abc-defg-hij", None, MeetingRef(G, "abc-defg-hij")),
        (G, " ABC-defg-HIJ ", None, MeetingRef(G, "abc-defg-hij")),
        (G, "my-nickname", "", MeetingRef(G, "my-nickname")),
        (T, "1234567890", "abcd", MeetingRef(T, "1234567890", "abcd")),
        (T, " 123456789012345 ", "A1b2C3d4E5f6G7h8I9j0", MeetingRef(T, "123456789012345", "A1b2C3d4E5f6G7h8I9j0")),
        (T, "19:meeting_abc@thread.v2", None, MeetingRef(T, "19:meeting_abc@thread.v2")),
        (Z, "812 3456 7890", None, MeetingRef(Z, "81234567890")),
        (Z, "812345678", "p.w-d_1", MeetingRef(Z, "812345678", "p.w-d_1")),
    ],
)
def test_valid_native_ids_are_normalised(
    platform: Platform, native: str, passcode: str | None, expected: MeetingRef
) -> None:
    assert validate(platform, native, passcode) == expected


@pytest.mark.parametrize(
    ("platform", "native", "passcode", "says"),
    [
        (G, "abc-defg-hij", "1234", "Google Meet meetings take no passcode"),
        (G, "a", None, "is not a Google Meet code: expected three groups of lower-case letters"),
        (G, "abc.defg.hij", None, "is not a Google Meet code"),
        (G, "-leading-dash", None, "is not a Google Meet code"),
        (T, "123456789", "abcd", "is not a Teams meeting id: expected 10-15 digits"),
        (T, "1234567890abc", "abcd", "is not a Teams meeting id"),
        (T, "1234567890", None, "Teams meetings need `passcode`"),
        (T, "1234567890", "abc", "Teams passcode 'abc' is invalid"),
        (T, "1234567890", "a" * 21, "is invalid: expected 4-20 letters or digits"),
        (T, "1234567890", "ab cd", "is invalid"),
        (Z, "12345678", None, "'12345678' is not a Zoom meeting id: expected 9-11 digits"),
        (Z, "812345678901", None, "is not a Zoom meeting id"),
        (Z, "zoom-room", None, "is not a Zoom meeting id"),
        (Z, "81234567890", "has space", "contains characters Zoom never uses"),
    ],
)
def test_invalid_native_ids_are_refused(platform: Platform, native: str, passcode: str | None, says: str) -> None:
    with pytest.raises(MeetingUrlError) as refused:
        validate(platform, native, passcode)
    assert says in str(refused.value)


def test_the_bot_opens_the_platforms_own_url(settings: Settings) -> None:
    assert join_url(MeetingRef(G, "abc-defg-hij"), settings) == "https://meet.google.com/abc-defg-hij"
    assert join_url(MeetingRef(T, "9876543210123", "Pass1234"), settings) == (
        "https://teams.live.com/meet/9876543210123?p=Pass1234"
    )
    assert join_url(MeetingRef(Z, "81234567890"), settings) == "https://app.zoom.us/wc/join/81234567890"
    assert join_url(MeetingRef(Z, "81234567890", "a.b c"), settings) == (
        "https://app.zoom.us/wc/join/81234567890?pwd=a.b%20c"
    )


def test_the_bot_url_follows_the_configured_base_urls() -> None:
    local = load_settings(
        google_meet_base_url="http://127.0.0.1:9001/", teams_base_url="http://127.0.0.1:9002",
        zoom_base_url="http://127.0.0.1:9003",
    )
    assert join_url(MeetingRef(G, "abc-defg-hij"), local) == "http://127.0.0.1:9001/abc-defg-hij"
    assert join_url(MeetingRef(T, "9876543210123", "Pw12"), local) == "http://127.0.0.1:9002/meet/9876543210123?p=Pw12"
    assert join_url(MeetingRef(Z, "812345678", "x"), local) == "http://127.0.0.1:9003/wc/join/812345678?pwd=x"
    # A real link still parses the same when the bots are pointed elsewhere.
    assert parse_url("https://zoom.us/j/812345678?pwd=x", local) == MeetingRef(Z, "812345678", "x")


def test_a_passcode_given_beside_the_link_is_used_when_the_link_has_none(settings: Settings) -> None:
    teams = parse_url("https://teams.live.com/meet/9876543210123", settings, passcode="Abcd1234")
    assert (teams.native_meeting_id, teams.passcode) == ("9876543210123", "Abcd1234")
    # The link's own passcode wins over the separate one.
    link = "https://teams.live.com/meet/9876543210123?p=Link1234"
    assert parse_url(link, settings, "Other123").passcode == "Link1234"
    assert parse_url("https://zoom.us/j/81234567890", settings, passcode="zpw").passcode == "zpw"
    assert parse_url("https://zoom.us/j/81234567890?pwd=link", settings, passcode="zpw").passcode == "link"
    with pytest.raises(MeetingUrlError, match="Teams passcode 'no!' is invalid"):
        parse_url("https://teams.live.com/meet/9876543210123", settings, passcode="no!")
    with pytest.raises(MeetingUrlError, match="take no passcode"):
        parse_url("https://meet.google.com/abc-defg-hij", settings, passcode="1234")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"meeting_url": "https://teams.live.com/meet/9876543210123", "passcode": "Abcd1234"},
         MeetingRef(T, "9876543210123", "Abcd1234")),
        ({"meeting_url": "https://zoom.us/j/81234567890", "passcode": "zpw"}, MeetingRef(Z, "81234567890", "zpw")),
        ({"meeting_url": "https://meet.google.com/abc-defg-hij", "platform": "google_meet",
          "native_meeting_id": "ignored-when-a-link-is-given"}, MeetingRef(G, "abc-defg-hij")),
        ({"platform": "zoom", "native_meeting_id": "812 345 6789", "passcode": "pw"},
         MeetingRef(Z, "8123456789", "pw")),
        # A legacy Teams link needs no passcode and is still opened as given.
        ({"meeting_url": LEGACY, "passcode": "Abcd1234"},
         MeetingRef(T, "19:meeting_NjQ3ZmM2YjctYjU4ZS00@thread.v2", None, join_url=LEGACY)),
    ],
)
def test_a_bot_request_resolves_to_one_meeting(settings: Settings, body: dict[str, str], expected: MeetingRef) -> None:
    from appliance.api.schemas import BotRequest
    from appliance.meetings.service import resolve_ref

    assert resolve_ref(BotRequest.model_validate(body).order(), settings) == expected
