"""The ASR server's sink against the real appliance: ordered, retried, never duplicated."""

from __future__ import annotations

import asyncio

from asr.appliance_sink import ApplianceSink
from asr.protocol import Segment
from asr.sink import StreamInfo
from tests.conftest import Appliance, HangingMeetingHost, bot_token_of, wait_until


def test_segments_survive_an_appliance_crash_without_duplicates(
    make_appliance, hanging_host: HangingMeetingHost
) -> None:
    app: Appliance = make_appliance(google_meet_base_url=hanging_host.base_url).start()
    _, token = app.new_user("sink@example.com")
    with app.client(token) as client:
        meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "sin-kcra-shh"}).json()
        wait_until(lambda: client.get(f"/meetings/{meeting['id']}").json()["status"] == "joining", 60,
                   what="the bot to join")
        bot_token = bot_token_of(client.get(f"/meetings/{meeting['id']}").json())

    stream = StreamInfo("chan-1", str(meeting["id"]), bot_token, "en", "transcribe", extra={"speaker": "Dana"})
    other = StreamInfo("chan-x", None, None, "en", "transcribe")  # a plain WhisperLive client: nothing is stored

    async def speak(sink: ApplianceSink, *segments: Segment) -> None:
        await sink.on_segments(stream, list(segments))
        await sink.on_segments(other, list(segments))

    async def scenario() -> None:
        sink = ApplianceSink(app.base_url)
        await speak(sink, Segment(0.0, 0.8, "One", False))
        await speak(sink, Segment(0.0, 1.5, "One two.", True), Segment(1.6, 2.0, "Thr", False))
        await asyncio.to_thread(
            wait_until, lambda: len(_segments(app, token)) == 2, 30, 0.1, "the first segments to be stored"
        )
        await asyncio.to_thread(app.kill)  # the appliance dies; the ASR server goes on
        await speak(sink, Segment(1.6, 2.6, "Three four.", True))
        await speak(sink, Segment(2.7, 3.5, "Five six.", True), Segment(3.6, 3.9, "Sev", False))
        await asyncio.to_thread(app.start)
        await sink.on_stream_closed(stream)
        await sink.close()

    asyncio.run(scenario())
    stored = _segments(app, token)
    assert [s["text"] for s in stored] == ["One two.", "Three four.", "Five six.", "Sev"]
    assert [s["completed"] for s in stored] == [True, True, True, False]
    assert {s["speaker"] for s in stored} == {"Dana"}
    assert len({s["segment_id"] for s in stored}) == 4


def _segments(app: Appliance, token: str) -> list[dict]:
    with app.client(token) as client:
        return client.get("/transcripts/google_meet/sin-kcra-shh").json()["segments"]
