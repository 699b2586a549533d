"""WebSocket /ws against the real appliance: live status and segments, replay with `since`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Appliance, wait_until


def ws_connect(appliance: Appliance, token: str) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{appliance.port}/ws?api_key={token}", open_timeout=10)


def next_frame(ws: ClientConnection, frame_type: str) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv(timeout=30))
        if frame["type"] == frame_type:
            return frame


def test_bad_key_closes_with_4401(appliance: Appliance) -> None:
    with ws_connect(appliance, "vmt_not-a-real-token") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_partial_then_completed_segments_and_rest_view_agree(appliance: Appliance, live_meeting) -> None:
    client, meeting, bot, token = live_meeting
    with ws_connect(appliance, token) as ws:
        ws.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": meeting["id"]}]}))
        subscribed = next_frame(ws, "subscribed")
        assert subscribed["meetings"][0]["id"] == meeting["id"]

        bot.segments("Alice", ("a-1", 0.0, 1.2, "Hello every", False))
        partial = next_frame(ws, "transcript.mutable")["payload"]["segments"][0]
        bot.segments("Alice", ("a-1", 0.0, 2.0, "Hello everyone.", True), ("a-2", 2.1, 2.9, "Let us", False))
        second = next_frame(ws, "transcript.mutable")["payload"]["segments"]
        # A completed segment is frozen: a late rewrite is ignored and nobody is told of it.
        bot.segments("Alice", ("a-1", 0.0, 2.0, "Hello everybody!", True))
        bot.segments("Bob", ("b-1", 3.0, 4.0, "Hi Alice.", True))
        third = next_frame(ws, "transcript.mutable")["payload"]["segments"]

    assert partial["segment_id"] == "a-1" and partial["completed"] is False and partial["speaker"] == "Alice"
    by_id = {s["segment_id"]: s for s in second}
    assert by_id["a-1"]["completed"] is True and by_id["a-1"]["text"] == "Hello everyone."
    assert by_id["a-1"]["created_at"] == partial["created_at"], "updated in place, same segment"
    assert [s["segment_id"] for s in third] == ["b-1"] and third[0]["speaker"] == "Bob"

    view: dict[str, dict[str, Any]] = {}
    for segment in [partial, *second, *third]:
        view[segment["segment_id"]] = segment
    rest = client.get(f"/transcripts/google_meet/{meeting['native_meeting_id']}").json()["segments"]
    assert {s["segment_id"]: (s["text"], s["completed"], s["speaker"]) for s in rest} == {
        k: (v["text"], v["completed"], v["speaker"]) for k, v in view.items()
    }
    assert [s["segment_id"] for s in rest] == ["a-1", "a-2", "b-1"], "ordered by start time"


def test_status_frames_follow_the_lifecycle(appliance: Appliance, live_meeting) -> None:
    client, meeting, _, token = live_meeting
    with ws_connect(appliance, token) as ws:
        by_native_id = {"platform": "google_meet", "native_id": meeting["native_meeting_id"]}
        ws.send(json.dumps({"action": "subscribe", "meetings": [by_native_id]}))
        next_frame(ws, "subscribed")
        client.delete(f"/bots/google_meet/{meeting['native_meeting_id']}")
        statuses: list[dict[str, Any]] = []
        while not statuses or statuses[-1]["status"] not in ("completed", "failed"):
            statuses.append(next_frame(ws, "meeting.status")["payload"])
    assert statuses[0]["status"] == "stopping"
    assert statuses[-1] == {"status": "completed", "reason": "stopped"}


def test_reconnect_with_since_misses_nothing(appliance: Appliance, live_meeting) -> None:
    _, meeting, bot, token = live_meeting
    subscribe = {"action": "subscribe", "meetings": [{"meeting_id": meeting["id"]}]}
    with ws_connect(appliance, token) as ws:
        ws.send(json.dumps(subscribe))
        next_frame(ws, "subscribed")
        bot.segments("Alice", ("s-1", 0.0, 1.0, "First.", True))
        seen = next_frame(ws, "transcript.mutable")["payload"]["segments"]
    last_seen = seen[-1]["updated_at"]
    # While the client is away:
    bot.segments("Alice", ("s-2", 1.0, 2.0, "Second.", True), ("s-3", 2.0, 3.0, "Thi", False))
    bot.segments("Alice", ("s-3", 2.0, 3.5, "Third.", True))
    with ws_connect(appliance, token) as ws:
        ws.send(json.dumps({**subscribe, "since": last_seen}))
        next_frame(ws, "subscribed")
        replayed = next_frame(ws, "transcript.mutable")["payload"]["segments"]
    texts = {s["segment_id"]: s["text"] for s in replayed}
    assert texts.get("s-2") == "Second." and texts.get("s-3") == "Third."


def test_other_users_meetings_cannot_be_subscribed(appliance: Appliance, live_meeting) -> None:
    _, meeting, _, _ = live_meeting
    _, other = appliance.new_user(f"other-{time.monotonic_ns()}@example.com")
    with ws_connect(appliance, other) as ws:
        ws.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": meeting["id"]}]}))
        error = next_frame(ws, "error")
        ws.send(json.dumps({"action": "ping"}))
        assert next_frame(ws, "pong") == {"type": "pong"}
    assert error["error"] == "not_found"


def test_ended_meeting_gathers_participants_and_languages(appliance: Appliance, live_meeting) -> None:
    client, meeting, bot, _ = live_meeting
    client.patch(f"/meetings/google_meet/{meeting['native_meeting_id']}", json={"data": {"participants": ["Carol"]}})
    bot.segments("Alice", ("x-1", 0.0, 1.0, "Good morning.", True))
    bot.segments("Bob", ("y-1", 1.0, 2.0, "Morning!", True))
    client.delete(f"/bots/google_meet/{meeting['native_meeting_id']}")
    ended = wait_until(
        lambda: (m := client.get(f"/meetings/{meeting['id']}").json())["status"] == "completed"
        and "segment_count" in m["data"] and m,
        60, what="the meeting to end and its facts to be gathered",
    )
    assert ended["data"]["participants"] == ["Alice", "Bob", "Carol"]
    assert ended["data"]["languages"] == ["en"]
    assert ended["data"]["segment_count"] == 2


def test_mixed_channel_is_labelled_from_speaker_activity(appliance: Appliance, live_meeting) -> None:
    client, meeting, bot, _ = live_meeting
    t0 = bot.started_at
    turns = [
        {"speaker": "Erin", "start": t0 + 0.0, "end": t0 + 2.2},
        {"speaker": "Frank", "start": t0 + 2.3, "end": t0 + 5.0},
    ]
    assert bot.client.post("/internal/bot/speakers", json={"turns": turns}).status_code == 200
    # One mixed stream (no speaker of its own), as Teams delivers it.
    body = {
        "stream": {"uid": "mixed", "speaker": None, "started_at": t0},
        "segments": [
            {"segment_id": "m-1", "start": 0.1, "end": 2.0, "text": "I will start.", "completed": True},
            {"segment_id": "m-2", "start": 2.1, "end": 4.8, "text": "Then it is my turn.", "completed": True},
        ],
    }
    assert bot.client.post("/internal/bot/segments", json=body).status_code == 200
    segments = client.get(f"/transcripts/google_meet/{meeting['native_meeting_id']}").json()["segments"]
    assert [(s["segment_id"], s["speaker"]) for s in segments] == [("m-1", "Erin"), ("m-2", "Frank")]
