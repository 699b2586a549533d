"""The whole pipeline with real parts: `vomeet serve` with its `vomeet asr` child and the real
tiny.en model, a WhisperLive-protocol client acting as a bot with one stream per participant,
a WebSocket subscriber, and a webhook receiver on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

from asr import protocol
from asr.synth import SAMPLE_RATE, synthesize
from asr.wer import wer
from tests.conftest import Appliance, HangingMeetingHost, bot_token_of, free_port, wait_until
from tests.webhooks.test_webhooks import Receiver

pytestmark = pytest.mark.usefixtures("speech_programs")

TURNS = (
    ("Alice", "en-us", "Good morning everyone. Let's start with the quarterly budget review."),
    ("Bob", "en-gb", "Thanks. Our marketing spend was lower than planned this quarter."),
    ("Alice", "en-us", "That is good news. What happened with the hiring plan for the support team?"),
    ("Bob", "en-gb", "We hired three new engineers, and two more will join next month."),
)
FRAME = SAMPLE_RATE // 10  # 100 ms, as bots send


def channels() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each participant's channel: their speech at their turns, silence at the others'."""
    pause = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    timeline: dict[str, list[np.ndarray]] = {"Alice": [], "Bob": []}
    said: dict[str, list[str]] = {"Alice": [], "Bob": []}
    for speaker, voice, text in TURNS:
        speech = synthesize(text, voice, 160)
        for name in timeline:
            timeline[name].append(speech if name == speaker else np.zeros_like(speech))
            timeline[name].append(pause)
        said[speaker].append(text)
    return ({k: np.concatenate(v) for k, v in timeline.items()}, {k: " ".join(v) for k, v in said.items()})


def stream_channel(port: int, meeting_id: int, token: str, speaker: str, audio: np.ndarray, started_at: float) -> None:
    config = protocol.config_frame(
        f"bot-{meeting_id}-{speaker}", language="en", task="transcribe", use_vad=True,
        token=token, meeting_id=str(meeting_id), speaker=speaker, audio_started_at=started_at,
    )
    with connect(f"ws://127.0.0.1:{port}", open_timeout=30, max_size=None) as ws:
        ws.send(config)
        ready = json.loads(ws.recv(timeout=60))
        assert ready.get("message") == "SERVER_READY", ready
        begin = time.monotonic()
        for n, start in enumerate(range(0, audio.size, FRAME)):
            # Real-time pace: frame n leaves at n * 100 ms.
            delay = begin + n * 0.1 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            ws.send(audio[start : start + FRAME].astype("<f4").tobytes())
        ws.send(protocol.END_OF_AUDIO)
        while not protocol.is_disconnect(json.loads(ws.recv(timeout=120))):
            pass


class Subscriber(threading.Thread):
    """Reads a subscribed /ws connection in the background, keeping every frame."""

    def __init__(self, ws: ClientConnection, meeting_id: int) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.ws.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": meeting_id}]}))
        self.frames: list[dict[str, Any]] = []
        self.start()

    def run(self) -> None:
        try:
            for raw in self.ws:
                self.frames.append(json.loads(raw))
        except Exception:  # the socket closes at the end of the test
            return

    def view(self) -> dict[str, dict[str, Any]]:
        segments: dict[str, dict[str, Any]] = {}
        for frame in list(self.frames):
            if frame["type"] == "transcript.mutable":
                for segment in frame["payload"]["segments"]:
                    segments[segment["segment_id"]] = segment
        return segments


def test_two_speakers_live_to_websocket_rest_and_webhooks(make_appliance, hanging_host: HangingMeetingHost) -> None:
    audio, said = channels()
    receiver = Receiver()
    asr_port = free_port()
    app: Appliance = make_appliance(
        asr_enabled="true", asr_port=str(asr_port), google_meet_base_url=hanging_host.base_url,
        webhook_allow_internal_targets="true",
    ).start()
    try:
        wait_until(lambda: httpx.get(f"{app.base_url}/readyz").json()["checks"]["asr"]["ok"], 120,
                   0.5, "the ASR server to load its model")
        _, token = app.new_user("pipeline@example.com")
        with app.client(token) as client, contextlib.ExitStack() as stack:
            client.put("/user/webhook", json={"webhook_url": receiver.url, "webhook_secret": "pipeline-secret"})
            meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "pip-elin-eee"}).json()
            bot_token = bot_token_of(meeting)
            ws = stack.enter_context(connect(f"ws://127.0.0.1:{app.port}/ws?api_key={token}"))
            subscriber = Subscriber(ws, meeting["id"])
            wait_until(lambda: any(f["type"] == "subscribed" for f in subscriber.frames), 10, what="subscription")

            started_at = time.time()
            streams = [
                threading.Thread(
                    target=stream_channel, args=(asr_port, meeting["id"], bot_token, name, samples, started_at)
                )
                for name, samples in audio.items()
            ]
            for thread in streams:
                thread.start()
            for thread in streams:
                thread.join(timeout=180)

            def settled() -> list[dict[str, Any]] | None:
                rest = client.get("/transcripts/google_meet/pip-elin-eee").json()["segments"]
                view = subscriber.view()
                done = rest and all(s["completed"] for s in rest) and len(view) == len(rest)
                return rest if done else None

            rest = wait_until(settled, 60, 0.2, "every segment to be completed and delivered")
            asr_load = httpx.get(f"{app.base_url}/readyz").json()["checks"]["asr"]
            view = subscriber.view()
            client.delete("/bots/google_meet/pip-elin-eee")
            wait_until(lambda: receiver.events("transcript.ready"), 60, what="transcript.ready")
    finally:
        receiver.close()

    # The WebSocket view equals the stored transcript, segment for segment.
    assert {s["segment_id"]: (s["text"], s["speaker"], s["completed"]) for s in rest} == {
        k: (v["text"], v["speaker"], v["completed"]) for k, v in view.items()
    }
    # Partial text was shown before segments were completed.
    updates = [s for f in subscriber.frames if f["type"] == "transcript.mutable" for s in f["payload"]["segments"]]
    assert any(not s["completed"] for s in updates)
    # Who said what: each participant's stored words match what they said.
    for name, reference in said.items():
        spoken = " ".join(s["text"] for s in rest if s["speaker"] == name)
        assert wer(reference, spoken) < 0.25, (name, spoken)
    assert {s["speaker"] for s in rest} == {"Alice", "Bob"}
    # Times are from the meeting's audio start, in order, within the audio's length.
    assert all(0 <= s["start"] <= s["end"] <= len(audio["Alice"]) / SAMPLE_RATE + 1 for s in rest)
    # The ASR server took both channels and refused none; the appliance reports its load.
    assert asr_load["accepted"] == 2 and asr_load["refused"] == 0 and asr_load["model"]
    ready = receiver.events("transcript.ready")[0]["data"]
    assert ready["participants"] == ["Alice", "Bob"] and ready["segment_count"] == len(rest)
