"""appliance/bot_config.py: the one document a bot is told, built from the request and the
settings (appliance/meetings/service.py), and what the bot does with one that is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from appliance.api.schemas import AutomaticLeave as RequestedLeave
from appliance.api.schemas import BotRequest
from appliance.bot_config import CONFIG_ENV, DEFAULT_BOT_NAME, TOKEN_ENV, AutomaticLeave, BotConfig
from appliance.config import Settings
from appliance.meetings.service import bot_config

ROOT = Path(__file__).resolve().parents[2]
URL = "https://meet.google.com/abc-defg-hij"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path, **values)


def sample(tmp_path: Path, **request: Any) -> BotConfig:
    asked = BotRequest.model_validate({"platform": "google_meet", "native_meeting_id": "abc-defg-hij", **request})
    return bot_config(settings(tmp_path), asked.order(), 7, "google_meet", URL)


def test_a_request_without_choices_gets_the_settings_defaults(tmp_path: Path) -> None:
    chosen = settings(
        tmp_path, waiting_room_timeout_s=901, nobody_joined_timeout_s=602, left_alone_timeout_s=63,
        max_duration_s=14404, bot_join_timeout_s=45, chromium_path=tmp_path / "chromium",
        host="0.0.0.0", port=8123, asr_host="127.0.0.2", asr_port=9191, tls="off",
    )
    asked = BotRequest(platform="google_meet", native_meeting_id="abc-defg-hij")
    config = bot_config(chosen, asked.order(), 7, "google_meet", URL)
    assert config.automatic_leave == AutomaticLeave(
        waiting_room_timeout_s=901, nobody_joined_timeout_s=602, left_alone_timeout_s=63, max_duration_s=14404
    )
    assert (config.bot_name, config.language, config.task) == (DEFAULT_BOT_NAME, None, "transcribe")
    assert (config.transcribe_enabled, config.recording_enabled) == (True, False)
    assert (config.meeting_id, config.platform, config.meeting_url) == (7, "google_meet", URL)
    assert config.join_timeout_s == 45
    assert config.chromium_path == str(tmp_path / "chromium")
    assert config.appliance_url == "http://127.0.0.1:8123"  # dialled, not the bind-all address
    assert config.asr_url == "ws://127.0.0.2:9191"


def test_with_tls_on_the_bot_dials_the_plain_loopback_listener_even_with_a_public_url(tmp_path: Path) -> None:
    # The LAN port speaks HTTPS with a certificate the bot has no pin for; public_url is for people.
    chosen = settings(tmp_path, host="0.0.0.0", port=8123, loopback_port=8124,
                      public_url="https://notes.example.lan:8123")
    config = bot_config(chosen, BotRequest(platform="google_meet", native_meeting_id="abc-defg-hij").order(),
                        7, "google_meet", URL)
    assert config.appliance_url == "http://127.0.0.1:8124"


def test_the_request_overrides_the_defaults_it_names(tmp_path: Path) -> None:
    config = sample(
        tmp_path, bot_name="Minutes", language="de", task="translate", recording_enabled=True,
        transcribe_enabled=False, automatic_leave={"left_alone_timeout_s": 5},
    )
    assert config.automatic_leave.left_alone_timeout_s == 5
    assert config.automatic_leave.waiting_room_timeout_s == Settings.model_fields["waiting_room_timeout_s"].default
    assert (config.bot_name, config.language, config.task) == ("Minutes", "de", "translate")
    assert (config.transcribe_enabled, config.recording_enabled) == (False, True)


def test_the_stored_options_keep_the_shape_meetings_were_stored_in(tmp_path: Path) -> None:
    options = sample(tmp_path, bot_name="Minutes", language="en").options()
    assert options == {
        "bot_name": "Minutes", "language": "en", "task": "transcribe", "recording_enabled": False,
        "transcribe_enabled": True,
        "automatic_leave": {"waiting_room_timeout_s": 900, "nobody_joined_timeout_s": 600,
                            "left_alone_timeout_s": 60, "max_duration_s": 14400},
    }


def test_one_json_document_round_trips(tmp_path: Path) -> None:
    config = sample(tmp_path, bot_name="Minutes", language="en", automatic_leave={"max_duration_s": 30})
    document = config.model_dump_json()
    assert BotConfig.model_validate_json(document) == config
    assert json.loads(document)["automatic_leave"]["max_duration_s"] == 30


def test_timeouts_carry_their_unit_and_one_name_from_request_to_settings_to_bot() -> None:
    names = set(AutomaticLeave.model_fields)
    assert names and all(name.endswith("_s") for name in names)
    assert names == set(RequestedLeave.model_fields)
    assert names <= set(Settings.model_fields)


def run_bot(document: str, meeting_id: int = 7) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, CONFIG_ENV: document, TOKEN_ENV: "vmb_not-a-real-token"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--meeting-id", str(meeting_id)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def _with(config: BotConfig, **changes: Any) -> str:
    document = json.loads(config.model_dump_json())
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = document
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return json.dumps(document)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"automatic_leave__left_alone_timeout_s": -5},
         "automatic_leave.left_alone_timeout_s: Input should be greater than 0 (got -5)"),
        ({"task": "summarise"}, "task: Input should be 'transcribe' or 'translate' (got 'summarise')"),
        ({"meeting_url": None}, "meeting_url: Field required"),
        ({"platfrom": "teams"}, "platfrom: Extra inputs are not permitted"),
    ],
)
def test_a_bad_configuration_stops_the_bot_with_the_field_named(
    tmp_path: Path, changes: dict[str, Any], named: str
) -> None:
    ended = run_bot(_with(sample(tmp_path), **changes))
    assert ended.returncode == 2
    assert f"{CONFIG_ENV} is not a valid bot configuration: {named}" in ended.stderr + ended.stdout


def test_a_configuration_that_is_not_json_is_refused(tmp_path: Path) -> None:
    ended = run_bot("{'meeting_id': 7")
    assert ended.returncode == 2
    assert "is not a valid bot configuration: (the document): Invalid JSON" in ended.stderr + ended.stdout


def test_a_configuration_for_another_meeting_is_refused(tmp_path: Path) -> None:
    ended = run_bot(sample(tmp_path).model_dump_json(), meeting_id=8)
    assert ended.returncode == 2
    assert "--meeting-id 8 does not match the configuration's meeting" in ended.stderr + ended.stdout


class _Reports(BaseHTTPRequestHandler):
    """The appliance's /internal/bot/status, as far as a bot that cannot start needs it."""

    received: list[tuple[str, str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, self.headers["Authorization"], body))
        answer = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def reports() -> Iterator[tuple[str, list[tuple[str, str, dict[str, Any]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Reports)
    _Reports.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Reports.received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("platform", ["zoom", "webex"])
def test_a_platform_the_bot_has_no_flow_for_is_reported_failed_not_joined_as_meet(
    tmp_path: Path, reports: tuple[str, list[tuple[str, str, dict[str, Any]]]], platform: str
) -> None:
    appliance_url, received = reports
    ended = run_bot(_with(sample(tmp_path), platform=platform, appliance_url=appliance_url))
    assert ended.returncode == 2
    [(path, authorization, report)] = received
    assert (path, authorization) == ("/internal/bot/status", "Bearer vmb_not-a-real-token")
    assert report["status"] == "failed"
    assert f"no flow for platform {platform!r}" in report["error_details"]
