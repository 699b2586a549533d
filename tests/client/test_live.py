"""The live transcript over `/ws` through a link that drops: segments said while the client was
cut off arrive after it reconnects (the `since` replay), none lost, none doubled, with speakers;
status changes arrive as events. Segments are driven through the appliance's real bot endpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from client.api import ApplianceClient
from client.live import LiveFeed, LiveTranscript, notification_for
from client.trust import pinned_context
from tests.client.conftest import CuttableRelay, MakeBox, remembered, unique
from tests.conftest import wait_until
from tests.live.conftest import Bot


def _texts(transcript: LiveTranscript) -> list[tuple[str, str, str, bool]]:
    return [(s["segment_id"], s["speaker"], s["text"], s["completed"]) for s in transcript.segments()]


def test_segments_said_while_disconnected_arrive_after_the_reconnect(
    make_box: MakeBox, relay_factory: Callable[..., CuttableRelay]
) -> None:
    box = make_box()
    _, token = box.app.new_user(unique("dave") + "@example.com")
    with box.app.client(token) as user:
        meeting = user.post("/bots", json={"platform": "google_meet", "native_meeting_id": "liv-ecli-ent"}).json()
    bot = Bot(box.app, meeting)
    relay: CuttableRelay = relay_factory(box.https_port)
    api = ApplianceClient(replace(remembered(box), port=relay.port), token)
    transcript = LiveTranscript()
    states: list[str] = []
    statuses: list[str] = []
    feed = LiveFeed(api.ws_url, token, pinned_context(api.appliance.pins), meeting["id"], transcript,
                    on_status=lambda status, reason: statuses.append(status),
                    on_connection=lambda state, detail: states.append(state))
    feed.start()
    try:
        wait_until(lambda: "live" in states, 30, what="the feed to connect")
        bot.segments("Alice", ("a1", 0.0, 1.5, "Good morning everyone.", True))
        wait_until(lambda: _texts(transcript) == [("a1", "Alice", "Good morning everyone.", True)], 30,
                   what="the first segment live")

        relay.cut()
        wait_until(lambda: "reconnecting" in states, 30, what="the feed to notice the cut")
        # Said while the client is cut off: a partial that is then corrected, and another speaker.
        bot.segments("Alice", ("a2", 1.5, 3.0, "The budget", False))
        bot.segments("Bob", ("b1", 2.0, 4.0, "Approved from my side.", True))
        bot.segments("Alice", ("a2", 1.5, 3.5, "The budget is approved.", True))
        relay.resume()

        wait_until(lambda: len(transcript.segments()) == 3 and all(s["completed"] for s in transcript.segments()),
                   60, what="the replay after the reconnect")
        assert _texts(transcript) == [
            ("a1", "Alice", "Good morning everyone.", True),
            ("a2", "Alice", "The budget is approved.", True),
            ("b1", "Bob", "Approved from my side.", True),
        ]
        assert feed.connections >= 2
        # The same as the appliance's stored transcript: nothing missed, nothing extra.
        stored = api.transcript("google_meet", "liv-ecli-ent")["segments"]
        assert sorted(s["segment_id"] for s in stored) == ["a1", "a2", "b1"]
        held = {s["segment_id"]: s["text"] for s in transcript.segments()}
        assert {s["segment_id"]: s["text"] for s in stored} == held

        api.stop_bot("google_meet", "liv-ecli-ent")
        wait_until(lambda: "completed" in statuses, 60, what="the meeting's end as an event")
        assert notification_for("completed", "stopped") == "The meeting ended (stopped)."
    finally:
        feed.stop()
        api.close()
        bot.client.close()
