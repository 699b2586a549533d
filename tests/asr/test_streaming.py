"""The WhisperLive protocol end to end: real server on loopback, real tiny.en, espeak-ng speech."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from asr.client import open_stream, stream_clip
from asr.engine import EngineSettings
from asr.protocol import Segment
from asr.sink import NullSink, StreamInfo
from asr.wer import wer
from tests.asr.helpers import live_server, run

TIME = re.compile(r"^\d+\.\d{3}$")


def test_real_time_stream_gives_partials_then_completed_text(model, conversation):
    async def scenario():
        async with live_server(model) as (url, _):
            config = {"uid": "rt", "language": None, "task": "transcribe", "model": "tiny.en", "use_vad": True}
            return await stream_clip(url, conversation.audio, config, pace=1.0)

    result = run(scenario())
    assert result.handshake == {"uid": "rt", "message": "SERVER_READY", "backend": "faster_whisper"}
    messages = [r.message for r in result.received]
    assert {"uid": "rt", "language": "en", "language_prob": 1.0} in messages
    assert messages[-1] == {"uid": "rt", "message": "DISCONNECT"}
    segment_messages = [m for m in messages if "segments" in m]
    for message in segment_messages:
        assert message["uid"] == "rt"
        assert all(s["completed"] for s in message["segments"][:-1])
        for s in message["segments"]:
            assert TIME.match(s["start"]) and TIME.match(s["end"]) and float(s["start"]) < float(s["end"])
    first_completed = next(i for i, m in enumerate(segment_messages) if m["segments"] and m["segments"][0]["completed"])
    partials = [m for m in segment_messages[:first_completed] if m["segments"] and not m["segments"][-1]["completed"]]
    assert partials, "no partial before the first completed segment"
    assert len(result.completed()) == 3  # one per turn: pauses end utterances
    assert wer(conversation.text, result.text()) <= 0.2, result.text()


def test_completed_segments_are_never_rewritten(model, conversation):
    async def scenario():
        async with live_server(model) as (url, _):
            return await stream_clip(url, conversation.audio, {"uid": "c", "language": "en"}, pace=0)

    result = run(scenario())
    seen: dict[str, dict] = {}
    for received in result.segment_messages():
        for s in received.message["segments"]:
            if s["completed"]:
                assert seen.setdefault(s["start"], s) == s


def test_end_of_audio_flushes_the_tail(model, sentence):
    async def scenario():
        async with live_server(model) as (url, _):
            return await stream_clip(url, sentence.audio, {"uid": "tail", "language": "en"}, pace=0)

    result = run(scenario())
    completed = result.completed()
    assert len(completed) == 1
    assert wer(sentence.text, completed[0]["text"]) <= 0.25, completed[0]["text"]
    assert result.received[-1].message["message"] == "DISCONNECT"


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "JSON"),
        (json.dumps(["uid"]), "JSON object"),
        (json.dumps({"language": "en"}), "uid"),
        (json.dumps({"uid": "x", "task": "summarize"}), "task"),
        (json.dumps({"uid": "x", "task": "translate"}), "English-only"),
        (json.dumps({"uid": "x", "language": "de"}), "English-only"),
        (json.dumps({"uid": "x", "language": "klingon"}), "unknown language"),
    ],
)
def test_bad_config_gets_error(model, frame, error):
    async def scenario():
        async with live_server(model) as (url, engine):
            async with connect(url) as websocket:
                await websocket.send(frame)
                answer = json.loads(await websocket.recv())
                with pytest.raises(ConnectionClosed):
                    await websocket.recv()
            return answer, len(engine.streams)

    answer, streams = run(scenario())
    assert answer["status"] == "ERROR"
    assert error in answer["message"]
    assert streams == 0


def test_overload_gets_wait_from_measured_lag(model, conversation):
    async def scenario():
        # Any real pass takes longer than 1 ms, so the first completed segment's lag exceeds the budget.
        async with live_server(model, EngineSettings(lag_budget_s=0.001)) as (url, engine):
            first, ready = await open_stream(url, {"uid": "a", "language": "en"})
            assert ready["message"] == "SERVER_READY"
            await first.send(conversation.audio[:84800].astype("<f4").tobytes())  # the first turn and its pause
            while not any(s["completed"] for s in json.loads(await first.recv()).get("segments", [])):
                pass
            measured = engine.lag_s()
            second, answer = await open_stream(url, {"uid": "b", "language": "en"})
            await second.close()
            await first.close()
            await engine.wait_streams(0)
            third, again = await open_stream(url, {"uid": "c", "language": "en"})
            await third.close()
            async with httpx.AsyncClient() as client:
                stats = (await client.get(url.replace("ws://", "http://") + "/stats")).json()
            return measured, answer, again, stats

    measured, answer, again, stats = run(scenario())
    # The load figures the appliance shows count the refusal.
    assert stats["refused"] == 1 and stats["accepted"] == 2 and stats["model"]["model"]
    assert measured > 0.001
    assert answer["status"] == "WAIT" and answer["uid"] == "b"
    assert isinstance(answer["message"], (int, float)) and answer["message"] > 0
    assert again["message"] == "SERVER_READY"  # with no streams left there is no lag to refuse on


def test_client_leaving_mid_stream_frees_its_stream(model, conversation):
    async def scenario():
        async with live_server(model) as (url, engine):
            websocket, _ = await open_stream(url, {"uid": "gone", "language": "en"})
            stream = next(iter(engine.streams.values()))
            await websocket.send(conversation.audio[:40000].astype("<f4").tobytes())
            while "segments" not in json.loads(await websocket.recv()):
                pass
            await websocket.close()
            await engine.wait_streams(0)
            passes = engine.passes
            # The engine keeps serving: a new client still gets text.
            result = await stream_clip(url, conversation.audio[:80000], {"uid": "next", "language": "en"}, pace=0)
            return stream, passes, result

    stream, passes, result = run(scenario(), timeout_s=60)
    assert stream.closed and passes > 0
    assert result.completed()


def test_streams_are_batched_into_shared_model_calls(model, conversation):
    batch_sizes: list[int] = []

    async def scenario():
        async with live_server(model) as (url, engine):
            original = engine.decoder.run

            def recording(passes):
                batch_sizes.append(len(passes))
                return original(passes)

            engine.decoder.run = recording  # type: ignore[method-assign]  # counts the batches it is given
            clips = [conversation.audio[:100000]] * 3
            return await asyncio.gather(
                *(stream_clip(url, a, {"uid": f"s{i}", "language": "en"}, pace=4.0) for i, a in enumerate(clips))
            )

    results = run(scenario())
    assert max(batch_sizes) >= 2
    assert all(r.completed() for r in results)


def test_sink_receives_each_completed_segment_once(model, conversation):
    class Collecting(NullSink):
        def __init__(self) -> None:
            self.calls: list[tuple[StreamInfo, list[Segment]]] = []

        async def on_segments(self, stream_info: StreamInfo, segments: list[Segment]) -> None:
            self.calls.append((stream_info, segments))

    sink = Collecting()

    async def scenario():
        async with live_server(model, sink=sink) as (url, _):
            config = {"uid": "bot-1", "language": "en", "meeting_id": "42", "token": "t0k", "speaker": "Ann"}
            return await stream_clip(url, conversation.audio, config, pace=0)

    result = run(scenario())
    assert sink.calls and all(
        i.meeting_id == "42" and i.uid == "bot-1" and i.extra == {"speaker": "Ann"} for i, _ in sink.calls
    )
    completed = [s for _, segments in sink.calls for s in segments if s.completed]
    assert [f"{s.start:.3f}" for s in completed] == [s["start"] for s in result.completed()]
    assert len({s.start for s in completed}) == len(completed)


def test_silence_costs_no_model_passes(model):
    async def scenario():
        async with live_server(model) as (url, engine):
            noise = np.zeros(16000 * 5, np.float32)
            result = await stream_clip(url, noise, {"uid": "quiet", "language": "en"}, pace=0)
            return result, engine.passes

    result, passes = run(scenario())
    assert passes == 0
    assert not result.segment_messages()


def test_without_vad_nothing_is_gated_as_silence(model, sentence):
    """`use_vad: false`: the leading silence is not skipped; the audio is one utterance from 0 s,
    completed by END_OF_AUDIO (with VAD it would start just before the speech, at ~1.8 s)."""
    async def scenario():
        async with live_server(model) as (url, _):
            audio = np.concatenate([np.zeros(16000 * 2, np.float32), sentence.audio])
            return await stream_clip(url, audio, {"uid": "novad", "language": "en", "use_vad": False}, pace=0)

    completed = run(scenario()).completed()
    assert [c["start"] for c in completed] == ["0.000"], completed
    assert wer(sentence.text, completed[0]["text"]) <= 0.25, completed[0]["text"]
