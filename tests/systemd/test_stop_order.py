"""`systemctl stop` in the middle of a meeting keeps its last words: SIGTERM to `vomeet serve`
(with its own ASR child, as deployed) right after a participant finished speaking, and the turn
is in the database when the process has exited. Real Chromium in a mock Meet meeting, the real
ASR server and Whisper model. It guards the outcome of the whole stop order (bots leave, the
ASR delivers, then API, ASR, worker), not the ASR drain alone: with the drain switched off it
still passed 3 of 3 runs here, since the bot waits for the ASR's final segments before it exits
and the sink posts them at once (docs/operations.md)."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from asr.wer import wer
from tests.conftest import Appliance, appliance_env, free_port, wait_until
from tests.e2e.conftest import meet_code
from tests.mock_meetings.fixtures import mock_control, mock_meetings  # noqa: F401 (fixtures)
from tests.mock_meetings.server import MockMeetingServer
from tests.runtime.conftest import Reaper, pid_of, wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]
TURN = "Before we stop, the budget review moves to next Tuesday at ten."


def test_stop_during_a_meeting_keeps_the_last_turn(
    tmp_path, mock_meetings: MockMeetingServer, mock_control: httpx.Client, reaper: Reaper  # noqa: F811
) -> None:
    port = free_port()
    env = appliance_env(tmp_path / "data", port, asr_enabled="true", asr_port=str(free_port()),
                        google_meet_base_url=mock_meetings.base_url)
    app = Appliance(tmp_path / "data", env, port).start()
    wait_until(lambda: httpx.get(f"{app.base_url}/readyz").json()["checks"]["asr"]["ok"], 120, 0.5,
               "the ASR server to load its model")
    _, token = app.new_user("stop-order@example.com")
    native = meet_code()
    created = mock_control.post("/control/meetings", json={
        "id": native, "platform": "meet", "variant": "join-now", "participants": ["Alice", "Bob"]})
    assert created.status_code == 201, created.text
    with app.client(token) as client:
        answer = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": native, "language": "en"})
        assert answer.status_code == 201, answer.text
        meeting_id = answer.json()["id"]
        reaper.track(pid_of(answer.json()["bot_container_id"]))
        wait_for_status(client, meeting_id, "active", 60)
        spoken = mock_control.post(f"/control/meetings/{native}/speak", json={"participant": "Alice", "text": TURN})
        assert spoken.status_code in (200, 201), spoken.text
        seq, duration = spoken.json()["seq"], spoken.json()["duration_s"]

        def played() -> bool:
            speech = mock_control.get(f"/control/meetings/{native}").json()["speech"]
            return any(e["seq"] == seq and e["played"] for e in speech)

        wait_until(played, duration + 15, 0.2, "Alice to finish her turn")

    assert app.stop() == 0  # at once: the turn's audio is still being transcribed

    with sqlite3.connect(app.data_dir / "vomeet.db") as db:
        status, reason = db.execute("SELECT status, completion_reason FROM meetings WHERE id = ?",
                                    (meeting_id,)).fetchone()
        texts = [row[0] for row in db.execute(
            "SELECT text FROM transcript_segments WHERE meeting_id = ? AND completed ORDER BY start",
            (meeting_id,))]
    assert (status, reason) == ("completed", "stopped")
    assert texts and wer(TURN, " ".join(texts)) < 0.35, texts
