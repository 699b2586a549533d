"""kill -9 of the appliance in the middle of a live meeting, with the real ASR server streaming:
nothing completed is lost, the meeting stays in its right state, and a WebSocket client that
reconnects with `since` sees everything it missed."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
from websockets.sync.client import connect

from asr.wer import wer
from tests.conftest import Appliance, HangingMeetingHost, bot_token_of, free_port, wait_until
from tests.integration.test_pipeline_e2e import Subscriber, channels, pytestmark, stream_channel  # noqa: F401


def test_kill_9_mid_meeting_loses_nothing(make_appliance, hanging_host: HangingMeetingHost) -> None:
    audio, said = channels()
    asr_port = free_port()
    app: Appliance = make_appliance(
        asr_enabled="true", asr_port=str(asr_port), google_meet_base_url=hanging_host.base_url
    ).start()
    wait_until(lambda: httpx.get(f"{app.base_url}/readyz").json()["checks"]["asr"]["ok"], 120, 0.5,
               "the ASR server to load its model")
    _, token = app.new_user("crash-live@example.com")
    ws_url = f"ws://127.0.0.1:{app.port}/ws?api_key={token}"
    with app.client(token) as client:
        meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "cra-shli-vee"}).json()
        wait_until(lambda: client.get(f"/meetings/{meeting['id']}").json()["status"] == "joining", 60,
                   what="the bot to join")
        bot_token = bot_token_of(client.get(f"/meetings/{meeting['id']}").json())

    started_at = time.time()
    streams = [
        threading.Thread(target=stream_channel, args=(asr_port, meeting["id"], bot_token, name, samples, started_at))
        for name, samples in audio.items()
    ]
    with contextlib.ExitStack() as stack:
        before = Subscriber(stack.enter_context(connect(ws_url)), meeting["id"])
        for thread in streams:
            thread.start()
        wait_until(lambda: any(s["completed"] for s in before.view().values()), 60, 0.2,
                   "a first completed segment")
    seen_before = before.view()
    last_seen = max(s["updated_at"] for s in seen_before.values())

    app.kill()  # the supervisor dies mid-sentence; its ASR child and the bot live on
    app.start()

    for thread in streams:
        thread.join(timeout=180)
    with app.client(token) as client:
        rest = wait_until(
            lambda: (r := client.get("/transcripts/google_meet/cra-shli-vee").json()["segments"])
            and all(s["completed"] for s in r) and r,
            60, 0.2, "every segment to be completed",
        )
        # The meeting is where it was: its bot still runs and was adopted, not failed.
        shown = client.get(f"/meetings/{meeting['id']}").json()
        running = client.get("/bots/status").json()["running_bots"]
    assert shown["status"] == "joining"
    assert [b["meeting_id"] for b in running] == [meeting["id"]]

    with connect(ws_url) as ws:
        ws.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": meeting["id"]}], "since": last_seen}))
        replayed: dict[str, dict[str, Any]] = {}
        while True:
            frame = json.loads(ws.recv(timeout=30))
            if frame["type"] == "transcript.mutable":
                replayed.update({s["segment_id"]: s for s in frame["payload"]["segments"]})
            if {s["segment_id"] for s in rest} <= set(seen_before) | set(replayed):
                break
    view = {**seen_before, **replayed}
    assert {s["segment_id"]: s["text"] for s in rest} == {k: view[k]["text"] for k in (s["segment_id"] for s in rest)}
    # Nothing completed went missing: each participant's words are all there.
    for name, reference in said.items():
        assert wer(reference, " ".join(s["text"] for s in rest if s["speaker"] == name)) < 0.25, name
    with app.client(token) as client:
        client.delete("/bots/google_meet/cra-shli-vee")
        wait_until(lambda: client.get(f"/meetings/{meeting['id']}").json()["status"] == "completed", 60,
                   what="the bot to leave")
