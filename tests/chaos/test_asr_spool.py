"""The ASR side of "nothing lost": a completed segment is on disk (the sink's spool) before anyone
hears of it, so neither a kill -9 of `vomeet asr` nor an appliance that is down loses it."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from asr.spool import read_ledger, text_digest
from asr.synth import SAMPLE_RATE, synthesize
from tests.conftest import REPO, Appliance, HangingMeetingHost, bot_token_of, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]
FRAME = SAMPLE_RATE // 10


class Asr:
    """`vomeet asr --appliance-url ... --spool ...`, the command `vomeet serve` runs."""

    def __init__(self, app: Appliance, spool: Path, **env: str) -> None:
        self.port = free_port()
        self.app, self.spool = app, spool
        self.env = {**app.env, **env}
        spool.parent.mkdir(parents=True, exist_ok=True)
        self.log = spool.parent / "asr.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Asr:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "appliance", "asr", "--host", "127.0.0.1", "--port", str(self.port),
                 "--appliance-url", self.app.base_url, "--spool", str(self.spool)],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: b"ASR server on" in self.log.read_bytes() or self.process.poll() is not None,
                   120, 0.2, "the ASR server to load its model")
        assert self.process.poll() is None, self.log.read_text()
        return self

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


def speech() -> np.ndarray:
    pause = np.zeros(SAMPLE_RATE, np.float32)
    return np.concatenate([synthesize("Please send me the updated slides after the meeting."), pause,
                           synthesize("We will review the budget on Thursday morning."), pause])


def stream(port: int, token: str, meeting_id: int, audio: np.ndarray) -> list[dict[str, Any]]:
    """Stream `audio` as a bot would; returns every segment frame the server sent, until it
    said DISCONNECT or the connection broke."""
    config = {"uid": f"bot-{meeting_id}-spool", "language": "en", "task": "transcribe", "use_vad": True,
              "token": token, "meeting_id": str(meeting_id), "speaker": "Dana", "audio_started_at": 1.7e9}
    frames: list[dict[str, Any]] = []
    with connect(f"ws://127.0.0.1:{port}", open_timeout=30, max_size=None) as ws:
        ws.send(json.dumps(config))
        assert json.loads(ws.recv(timeout=60)).get("message") == "SERVER_READY"
        try:
            for start in range(0, audio.size, FRAME):
                ws.send(audio[start:start + FRAME].astype("<f4").tobytes())
            ws.send(b"END_OF_AUDIO")
            while (frame := json.loads(ws.recv(timeout=120))).get("message") != "DISCONNECT":
                frames.append(frame)
        except ConnectionClosed:
            pass
    return frames


def joining_meeting(make_appliance, hanging_host: HangingMeetingHost, native: str) -> tuple[Appliance, str, dict]:
    app: Appliance = make_appliance(google_meet_base_url=hanging_host.base_url).start()
    _, token = app.new_user(f"{native}@example.com")
    with app.client(token) as client:
        meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": native}).json()
        meeting = wait_until(
            lambda: (m := client.get(f"/meetings/{meeting['id']}").json())["status"] == "joining" and m,
            60, what="the bot to join",
        )
    return app, token, meeting


def stored_matches_ledger(app: Appliance, token: str, native: str, spool: Path) -> tuple[dict, dict]:
    with app.client(token) as client:
        segments = client.get(f"/transcripts/google_meet/{native}").json()["segments"]
    stored = {s["segment_id"]: text_digest(s["text"]) for s in segments if s["completed"]}
    return stored, {k: digest for k, (digest, _) in read_ledger(spool).items()}


def test_segments_survive_a_kill_9_of_the_asr_while_the_appliance_is_down(
    make_appliance, hanging_host, tmp_path: Path
) -> None:
    app, token, meeting = joining_meeting(make_appliance, hanging_host, "spo-olki-lla")
    spool = tmp_path / "asr" / "asr-spool.db"
    asr = Asr(app, spool).start()
    try:
        app.kill()  # the appliance is down: the sink can only keep what the ASR emits
        frames = stream(asr.port, bot_token_of(meeting), meeting["id"], speech())
        heard = {s["text"].strip() for f in frames for s in f.get("segments", []) if s["completed"]}
        assert len(heard) >= 2, frames
        owed = read_ledger(spool)
        assert len(owed) == len(heard) and all(outcome is None for _, outcome in owed.values()), owed
        assert stat.S_IMODE(spool.stat().st_mode) == 0o600  # it holds bot tokens
        asr.kill()
        asr.start()
        app.start()
        wait_until(lambda: all(o == "stored" for _, o in read_ledger(spool).values()), 60, 0.2,
                   "the restarted ASR to deliver what it spooled")
        stored, emitted = stored_matches_ledger(app, token, "spo-olki-lla", spool)
        assert stored == emitted
        assert sorted(stored.values()) == sorted(text_digest(t) for t in heard)
    finally:
        asr.stop()


def test_the_bot_hears_of_a_segment_only_once_it_is_spooled(make_appliance, hanging_host, tmp_path: Path) -> None:
    """The ASR dies right after spooling its first completed segment: the bot, which drops the
    audio of every completed segment it hears of, has not heard of it, and the segment is
    delivered by the next run."""
    app, token, meeting = joining_meeting(make_appliance, hanging_host, "spo-olor-der")
    spool = tmp_path / "asr" / "asr-spool.db"
    (tmp_path / "faults").mkdir()
    asr = Asr(app, spool, VOMEET_FAULT_POINTS="asr.after_spool", VOMEET_FAULT_STATE=str(tmp_path / "faults")).start()
    try:
        frames = stream(asr.port, bot_token_of(meeting), meeting["id"], speech())
        wait_until(lambda: asr.process.poll() is not None, 30, 0.1, "the ASR to die at the fault point")  # type: ignore[union-attr]
        assert not [s for f in frames for s in f.get("segments", []) if s["completed"]], frames
        emitted = read_ledger(spool)
        assert len(emitted) == 1 and next(iter(emitted.values()))[1] is None, emitted
        asr.start()  # the point fired once: this run passes it
        wait_until(lambda: all(o == "stored" for _, o in read_ledger(spool).values()), 60, 0.2,
                   "the restarted ASR to deliver the spooled segment")
        stored, ledger = stored_matches_ledger(app, token, "spo-olor-der", spool)
        assert stored == ledger and len(stored) == 1
    finally:
        asr.stop()
