"""POST /bots, GET /bots/status, DELETE /bots/{platform}/{id}, PUT /bots/{platform}/{id}/config.

Real bots (real Chromium) are launched; the meeting hosts never answer, so they stay in
`joining` until the test stops them.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.bot_config import CONFIG_ENV, OPTION_FIELDS, TOKEN_ENV, BotConfig
from tests.api.conftest import LIVE, TERMINAL, ApiUser, ApplianceDb, Bots, meet_code, teams_id
from tests.conftest import Appliance, HangingMeetingHost


def transitions(meeting: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    return [(t["from"], t["to"], t["source"]) for t in meeting["data"]["status_transition"]]


def test_a_bot_joins_shows_as_running_and_leaves_when_stopped(
    make_user: Any, bots: Bots, hanging_host: HangingMeetingHost
) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    answer = bots.launch(
        user, platform="google_meet", native_meeting_id=code, bot_name="Minutes", language="en",
        task="transcribe", recording_enabled=True, automatic_leave={"nobody_joined_timeout_s": 120},
    )
    assert answer.status_code == 201, answer.text
    meeting = answer.json()
    assert meeting["platform"] == "google_meet"
    assert meeting["native_meeting_id"] == code
    assert meeting["constructed_meeting_url"] == f"{hanging_host.base_url}/{code}"
    assert meeting["status"] in LIVE
    assert meeting["data"]["bot_name"] == "Minutes"
    assert meeting["data"]["language"] == "en"
    assert meeting["data"]["recording_enabled"] is True
    assert meeting["data"]["automatic_leave"] == {
        "waiting_room_timeout_s": 900, "nobody_joined_timeout_s": 120,
        "left_alone_timeout_s": 60, "max_duration_s": 14400,
    }
    assert meeting["bot_container_id"]

    bots.wait_for(user.client, meeting["id"], {"joining"})
    running = user.client.get("/bots/status")
    assert running.status_code == 200
    [bot] = running.json()["running_bots"]
    assert bot["meeting_id"] == meeting["id"]
    assert bot["platform"] == "google_meet" and bot["native_meeting_id"] == code
    assert bot["status"] == "joining"
    assert bot["bot_name"] == "Minutes"
    assert bot["runtime"] == {"kind": "process", "id": meeting["bot_container_id"]}

    stop = user.client.delete(f"/bots/google_meet/{code}")
    assert stop.status_code == 202, stop.text
    assert str(meeting["id"]) in stop.json()["message"]
    ended = bots.stop(user.client, meeting)
    assert ended["status"] == "completed"
    assert ended["completion_reason"] == "stopped"
    assert ended["failure_stage"] is None
    assert ended["end_time"] is not None
    assert transitions(ended) == [
        (None, "requested", "user"), ("requested", "joining", "bot"),
        ("joining", "stopping", "user"), ("stopping", "completed", "bot"),
    ]
    assert all(t["at"] for t in ended["data"]["status_transition"])
    assert user.client.get("/bots/status").json() == {"running_bots": []}
    # Stopping a bot that has already left is refused, not silently accepted.
    again = user.client.delete(f"/bots/google_meet/{code}")
    assert again.status_code == 409
    assert "not running" in again.json()["detail"]


def test_language_and_task_change_reaches_the_live_bot(make_user: Any, bots: Bots, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    meeting = bots.launch(user, platform="google_meet", native_meeting_id=code).json()
    bots.wait_for(user.client, meeting["id"], {"joining"})

    # The bot's own token, from the bot process's environment: only its hash is stored.
    pid = int(meeting["bot_container_id"].split("-")[1])
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    bot_token = next(e.split(b"=", 1)[1] for e in environ if e.startswith(b"VOMEET_BOT_TOKEN=")).decode()
    stored = db.row("SELECT bot_token_hash FROM meetings WHERE id = ?", meeting["id"])
    assert stored is not None
    assert stored["bot_token_hash"] == hashlib.sha256(bot_token.encode()).hexdigest()
    assert bot_token.encode() not in db.stored_bytes()

    change = user.client.put(f"/bots/google_meet/{code}/config", json={"language": "de", "task": "translate"})
    assert change.status_code == 202, change.text
    shown = user.client.get(f"/meetings/{meeting['id']}").json()
    assert shown["data"]["language"] == "de" and shown["data"]["task"] == "translate"
    with httpx.Client(base_url=str(user.client.base_url), headers={"Authorization": f"Bearer {bot_token}"}) as bot:
        command = bot.get("/internal/bot/command")
        assert command.status_code == 200, command.text
        assert command.json() == {"stop": False, "config": {"language": "de", "task": "translate", "version": 1}}

        nothing = user.client.put(f"/bots/google_meet/{code}/config", json={})
        assert nothing.status_code == 422
        assert "language" in nothing.json()["detail"] and "task" in nothing.json()["detail"]
        bad = user.client.put(f"/bots/google_meet/{code}/config", json={"language": "german"})
        assert bad.status_code == 422
        assert "language code" in bad.json()["detail"]
        detect = user.client.put(f"/bots/google_meet/{code}/config", json={"language": None})
        assert detect.status_code == 202, detect.text
        expected = {"stop": False, "config": {"language": None, "task": "translate", "version": 2}}
        assert bot.get("/internal/bot/command").json() == expected, "null: detect, the task kept"

        bots.stop(user.client, meeting)
        # The bot token is valid until the meeting ends, and not a moment longer.
        after = bot.get("/internal/bot/command")
        assert after.status_code == 401
        assert "ended" in after.json()["detail"]
    late = user.client.put(f"/bots/google_meet/{code}/config", json={"language": "fr"})
    assert late.status_code == 409
    assert "not running" in late.json()["detail"]


def test_the_bot_is_told_its_meeting_in_one_json_document_without_its_token(
    make_user: Any, bots: Bots, appliance: Appliance, hanging_host: HangingMeetingHost
) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    meeting = bots.launch(user, platform="google_meet", native_meeting_id=code, bot_name="Minutes",
                          automatic_leave={"max_duration_s": 3600}).json()
    bots.wait_for(user.client, meeting["id"], {"joining"})
    pid = int(meeting["bot_container_id"].split("-")[1])
    environ = dict(
        e.decode().split("=", 1) for e in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in e
    )
    config = BotConfig.model_validate_json(environ[CONFIG_ENV])
    assert (config.meeting_id, config.platform, config.bot_name) == (meeting["id"], "google_meet", "Minutes")
    assert config.meeting_url == f"{hanging_host.base_url}/{code}"
    assert config.appliance_url == appliance.base_url
    assert config.options() == {k: v for k, v in meeting["data"].items() if k in OPTION_FIELDS}
    assert config.automatic_leave.max_duration_s == 3600
    assert environ[TOKEN_ENV] not in environ[CONFIG_ENV]
    bots.stop(user.client, meeting)


def test_the_same_meeting_cannot_get_a_second_live_bot(make_user: Any, bots: Bots) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    first = bots.launch(user, platform="google_meet", native_meeting_id=code)
    assert first.status_code == 201, first.text
    twice = bots.launch(user, platform="google_meet", native_meeting_id=code)
    assert twice.status_code == 409
    assert "already has a live bot" in twice.json()["detail"]
    by_link = bots.launch(user, meeting_url=f"https://meet.google.com/{code}")
    assert by_link.status_code == 409
    assert len(user.client.get("/meetings").json()["meetings"]) == 1

    bots.stop(user.client, first.json())
    # Once the first bot has ended, the same meeting can be joined again: a new meeting row.
    second = bots.launch(user, platform="google_meet", native_meeting_id=code)
    assert second.status_code == 201, second.text
    assert second.json()["id"] > first.json()["id"]
    listed = [m["id"] for m in user.client.get("/meetings").json()["meetings"]]
    assert listed == [second.json()["id"], first.json()["id"]]
    # (platform, native id) addresses the newest; ?meeting_id= an older one.
    newest = user.client.get(f"/transcripts/google_meet/{code}").json()
    assert newest["id"] == second.json()["id"]
    older = user.client.get(f"/transcripts/google_meet/{code}", params={"meeting_id": first.json()["id"]})
    assert older.json()["id"] == first.json()["id"] and older.json()["status"] == "completed"
    bots.stop(user.client, second.json())


def test_concurrent_bot_limit_answers_429_and_zero_means_unlimited(
    appliance: Appliance, make_user: Any, bots: Bots, db: ApplianceDb
) -> None:
    user: ApiUser = make_user(max_concurrent_bots=1)
    busy = db.insert_meeting(user.id, status="active")
    refused = bots.launch(user, platform="google_meet", native_meeting_id=meet_code())
    assert refused.status_code == 429, refused.text
    assert "limit is 1" in refused.json()["detail"]
    assert [m["id"] for m in user.client.get("/meetings").json()["meetings"]] == [busy]

    # Ending the live meeting frees the slot.
    seeded = user.client.get(f"/meetings/{busy}").json()
    bots.stop(user.client, seeded)
    first = bots.launch(user, platform="google_meet", native_meeting_id=meet_code())
    assert first.status_code == 201, first.text
    assert bots.launch(user, platform="teams", native_meeting_id=teams_id(), passcode="Ab12Cd").status_code == 429

    with appliance.admin() as admin:
        assert admin.patch(f"/admin/users/{user.id}", json={"max_concurrent_bots": 0}).status_code == 200
    db.insert_meeting(user.id, status="active")
    db.insert_meeting(user.id, status="joining")
    unlimited = bots.launch(user, platform="google_meet", native_meeting_id=meet_code())
    assert unlimited.status_code == 201, unlimited.text
    live = [m for m in user.client.get("/meetings").json()["meetings"] if m["status"] in LIVE]
    assert len(live) == 4
    for meeting in live:  # the seeded ones have no bot: the server ends them itself
        assert bots.stop(user.client, meeting)["status"] in TERMINAL


def test_simultaneous_requests_start_one_bot_per_meeting_and_respect_the_limit(make_user: Any, bots: Bots) -> None:
    same: ApiUser = make_user()
    code = meet_code()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: bots.launch(same, platform="google_meet", native_meeting_id=code), range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert len(same.client.get("/meetings").json()["meetings"]) == 1

    limited: ApiUser = make_user(max_concurrent_bots=1)
    codes = [meet_code(), meet_code()]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda c: bots.launch(limited, platform="google_meet", native_meeting_id=c), codes))
    assert sorted(a.status_code for a in answers) == [201, 429]
    assert len(limited.client.get("/meetings").json()["meetings"]) == 1
    bots.cleanup()


def test_pasted_teams_links_launch_bots_and_zoom_links_are_refused_until_a_zoom_bot_exists(
    make_user: Any, bots: Bots, hanging_host: HangingMeetingHost
) -> None:
    user: ApiUser = make_user()
    native = teams_id()
    teams = bots.launch(user, meeting_url=f"https://teams.live.com/meet/{native}?p=Ab12Cd34", bot_name="T")
    assert teams.status_code == 201, teams.text
    assert teams.json()["platform"] == "teams"
    assert teams.json()["native_meeting_id"] == native
    assert teams.json()["data"]["passcode"] == "Ab12Cd34"
    assert teams.json()["constructed_meeting_url"] == f"{hanging_host.base_url}/meet/{native}?p=Ab12Cd34"
    bots.stop(user.client, teams.json())

    # The bot ran the Google Meet flow on Zoom links (issue): refused, and nothing is stored.
    for body in ({"meeting_url": "https://us05web.zoom.us/j/81234567890?pwd=x1Y2.z3"},
                 {"platform": "zoom", "native_meeting_id": "81234567890"}):
        zoom = bots.launch(user, **body)
        assert zoom.status_code == 422, zoom.text
        assert "no Zoom bot yet" in zoom.json()["detail"] and "Google Meet or Microsoft Teams" in zoom.json()["detail"]
    assert all(m["platform"] != "zoom" for m in user.client.get("/meetings").json()["meetings"])

    # A link without its passcode, and the passcode given beside it.
    native = teams_id()
    separate = bots.launch(user, meeting_url=f"https://teams.microsoft.com/meet/{native}", passcode="Zx98Yw76")
    assert separate.status_code == 201, separate.text
    assert (separate.json()["native_meeting_id"], separate.json()["data"]["passcode"]) == (native, "Zx98Yw76")
    assert separate.json()["constructed_meeting_url"].endswith(f"/meet/{native}?p=Zx98Yw76")
    bots.stop(user.client, separate.json())


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"platform": "skype", "native_meeting_id": "abc-defg-hij"}, "body.platform"),
        ({"platform": "google_meet", "native_meeting_id": "abc defg hij"}, "is not a Google Meet code"),
        ({"platform": "google_meet", "native_meeting_id": "abc-defg-hij", "passcode": "1234"}, "take no passcode"),
        ({"platform": "teams", "native_meeting_id": "12345"}, "is not a Teams meeting id"),
        ({"platform": "teams", "native_meeting_id": "1234567890123"}, "need `passcode`"),
        ({"platform": "teams", "native_meeting_id": "1234567890123", "passcode": "a!"},
         "Teams passcode 'a!' is invalid"),
        ({"platform": "zoom", "native_meeting_id": "12345"}, "is not a Zoom meeting id"),
        ({"meeting_url": "meet.google.com/abc-defg-hij"}, "is not a web link"),
        ({"meeting_url": "https://example.com/abc-defg-hij"}, "not a supported meeting host"),
        ({"meeting_url": "https://teams.microsoft.com/v2/"}, "has no meeting in it"),
        ({"meeting_url": "https://meet.google.com/abc-defg-hij", "platform": "zoom"},
         "the link is a google_meet meeting"),
        ({"platform": "google_meet", "native_meeting_id": "abc-defg-hij", "language": "english"}, "body.language"),
        ({"platform": "google_meet", "native_meeting_id": "abc-defg-hij", "task": "summarise"}, "body.task"),
        ({"platform": "google_meet", "native_meeting_id": "abc-defg-hij",
          "automatic_leave": {"left_alone_timeout_s": -5}}, "body.automatic_leave.left_alone_timeout_s"),
        ({}, "give either `meeting_url`, or `platform` and `native_meeting_id`"),
        ({"platform": "google_meet"}, "give either `meeting_url`"),
        ({"native_meeting_id": "abc-defg-hij"}, "give either `meeting_url`"),
    ],
)
def test_bad_bot_requests_are_422_with_a_reason(make_user: Any, body: dict[str, Any], says: str) -> None:
    user: ApiUser = make_user()
    answer = user.client.post("/bots", json=body)
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["detail"]
    assert user.client.get("/meetings").json() == {"meetings": []}


@pytest.mark.parametrize(
    ("raw", "says"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "expected a JSON object"), (b"\xff\xfe", "not valid JSON")],
)
def test_a_body_that_is_not_a_json_object_is_422(make_user: Any, raw: bytes, says: str) -> None:
    user: ApiUser = make_user()
    answer = user.client.post("/bots", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert says in answer.json()["detail"]


def test_stopping_or_reconfiguring_an_unknown_meeting(make_user: Any) -> None:
    user: ApiUser = make_user()
    missing = user.client.delete("/bots/google_meet/abc-defg-hij")
    assert missing.status_code == 404
    assert "No meeting google_meet/abc-defg-hij" in missing.json()["detail"]
    assert user.client.put("/bots/teams/1234567890123/config", json={"language": "en"}).status_code == 404
    bad_platform = user.client.delete("/bots/skype/abc-defg-hij")
    assert bad_platform.status_code == 422
    assert "unknown platform 'skype'" in bad_platform.json()["detail"]
