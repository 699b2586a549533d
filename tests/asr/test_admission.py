"""Admission: the projected load of the admitted streams decides, measured costs fed in; and on a
real server, a full engine refuses a new stream while the admitted one keeps being served."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from asr.admission import Admission, AdmissionSettings
from asr.client import open_stream
from asr.config_frame import parse_config
from asr.engine import Engine, EngineSettings
from asr.protocol import SAMPLE_RATE
from asr.wer import wer
from tests.asr.helpers import live_server, run

# Costs that are exact in binary floating point, so the counts below are exact too.
COST = 0.0625  # model seconds per second of utterance audio


def admitted_count(gate: Admission, now: float, lag_s: float = 0.0) -> int:
    """Open streams while the gate admits them; how many got in."""
    count = 0
    while gate.decide(now, lag_s, lag_budget_s=2.0).admit:
        gate.opened(object(), now)
        count += 1
    return count


def speak(gate: Admission, now: float, streams: list[object], seconds: float, cost: float = COST) -> None:
    """Each stream had `seconds` of utterances completed at `cost`."""
    gate.measured(now, cost * seconds * len(streams), {s: seconds for s in streams})


def test_a_burst_is_admitted_only_up_to_what_the_workers_hold():
    # Two workers, half their time for completed segments: 1 model second per second. A stream
    # nobody has measured yet counts at the prior: it speaks all the time at COST.
    gate = Admission(AdmissionSettings(utilisation_max=0.5, cost_prior_s_per_audio_s=COST), workers=2)
    assert admitted_count(gate, now=0.0) == 16
    refused = gate.decide(0.0, 0.0, 2.0)
    assert not refused.admit and refused.wait_minutes > 0
    assert refused.load_s_per_s == pytest.approx(1.0) and "workers" in refused.reason


def test_measured_cost_and_speech_replace_the_priors():
    settings = AdmissionSettings(utilisation_max=0.5, cost_prior_s_per_audio_s=COST)
    gate = Admission(settings, workers=2)
    streams = [object() for _ in range(8)]
    for stream in streams:
        gate.opened(stream, 0.0)
    # A minute later: each stream spoke half the time, and completed passes cost half the prior.
    speak(gate, 60.0, streams, 30.0, cost=COST / 2)
    cost = gate.cost_s_per_audio_s(60.0)
    assert COST / 2 < cost < COST / 2 * 1.03  # 240 s of measured audio outweigh the prior's 5 s
    typical = gate.typical_rate(60.0)
    assert typical == pytest.approx(0.625)  # 480 stream-seconds measured, 20 more per stream at the prior's 1.0
    more = admitted_count(gate, now=60.0)
    # A newcomer is unknown, so it is charged the prior; the eight measured streams (half the
    # speech at half the cost) take the room of fewer than four of them, and the workers' second
    # is then full.
    assert 8 + more > 16 + 4
    load, new = gate.load_s_per_s(60.0), COST * gate.typical_rate(60.0)
    assert load <= 1.0 < load + new


def test_a_burst_on_a_warm_engine_is_held_as_on_a_cold_one():
    """Costs measured with a few streams are lower than a burst of many will cost: young streams
    are charged the prior until they have been measured themselves."""
    gate = Admission(AdmissionSettings(utilisation_max=0.5, cost_prior_s_per_audio_s=COST), workers=2)
    earlier = object()
    gate.opened(earlier, 0.0)
    speak(gate, 60.0, [earlier], 50.0, cost=COST / 4)
    gate.closed(earlier, 60.0)
    assert gate.cost_s_per_audio_s(60.0) < COST / 2
    burst = admitted_count(gate, now=60.0)
    assert burst == 16
    streams = list(gate._streams)
    speak(gate, 160.0, streams, 80.0, cost=COST / 4)  # 100 s on, every one of them measured
    assert gate.load_s_per_s(160.0) < 0.25  # they hold a quarter of the room, not all of it
    assert admitted_count(gate, now=160.0) > 10


def test_a_stream_counts_by_what_it_says():
    gate = Admission(AdmissionSettings(cost_prior_s_per_audio_s=COST), workers=2)
    talkers = [object() for _ in range(9)]
    silent = object()
    for stream in [*talkers, silent]:
        gate.opened(stream, 0.0)
    speak(gate, 100.0, talkers, 90.0)
    newcomer = object()
    gate.opened(newcomer, 100.0)
    demands = gate._demands(100.0)
    # A participant who never spoke (a bot's channel for a listener) costs under a fifth of a talker;
    # a stream that joined just now has said nothing yet but counts as a typical stream.
    assert demands[silent] < demands[talkers[0]] / 5
    assert demands[newcomer] == pytest.approx(COST * gate.typical_rate(100.0))


def test_cost_follows_the_box_when_it_gets_slower():
    gate = Admission(AdmissionSettings(cost_halflife_s=30.0, cost_prior_s_per_audio_s=COST), workers=2)
    stream = object()
    gate.opened(stream, 0.0)
    for second in range(1, 61):  # ten seconds of utterances completed every second
        speak(gate, float(second), [stream], 10.0, cost=0.02)
    assert gate.cost_s_per_audio_s(60.0) == pytest.approx(0.02, rel=0.05)
    for second in range(61, 181):  # neighbours took the cores: passes now cost three times as much
        speak(gate, float(second), [stream], 10.0, cost=0.06)
    assert gate.cost_s_per_audio_s(180.0) == pytest.approx(0.06, rel=0.05)


def test_lag_over_budget_refuses_even_when_the_projection_fits():
    gate = Admission(AdmissionSettings(cost_prior_s_per_audio_s=COST), workers=2)
    gate.opened(object(), 0.0)
    assert gate.decide(1.0, lag_s=1.9, lag_budget_s=2.0).admit
    refused = gate.decide(1.0, lag_s=2.5, lag_budget_s=2.0)
    assert not refused.admit and "2.5 s behind" in refused.reason


def test_wait_is_when_enough_admitted_streams_are_expected_to_end():
    # Room for two streams of COST; streams that ended so far ran 600 s.
    gate = Admission(AdmissionSettings(utilisation_max=COST, cost_prior_s_per_audio_s=COST), workers=2)
    for _ in range(3):
        earlier = object()
        gate.opened(earlier, 0.0)
        gate.closed(earlier, 600.0)
    young, old = object(), object()
    gate.opened(young, 900.0)
    gate.opened(old, 700.0)
    speak(gate, 1000.0, [young], 100.0)
    speak(gate, 1000.0, [old], 300.0)
    refused = gate.decide(1000.0, 0.0, 2.0)
    # One of them must end for a third to fit: the older one, expected in 600 - 300 s.
    assert not refused.admit and refused.wait_minutes == pytest.approx(5.0)
    # Both past every length seen (and still talking): each is expected to run as long again as it has.
    speak(gate, 1500.0, [young, old], 500.0)
    later = gate.decide(1500.0, 0.0, 2.0)
    assert later.wait_minutes == pytest.approx(min(1500 - 900, 1500 - 700) / 60)
    gate.closed(old, 1500.0)
    assert gate.decide(1500.0, 0.0, 2.0).admit


def test_before_any_stream_ended_the_wait_uses_the_typical_length():
    gate = Admission(AdmissionSettings(utilisation_max=0.0, typical_stream_s=1800.0), workers=2)
    gate.opened(object(), 0.0)
    assert gate.decide(600.0, 0.0, 2.0).wait_minutes == pytest.approx(20.0)


def test_configured_stream_cap():
    gate = Admission(AdmissionSettings(cost_prior_s_per_audio_s=COST, typical_stream_s=120.0), workers=2)
    for _ in range(3):
        gate.opened(object(), 0.0)
    refused = gate.decide(60.0, 0.0, 2.0, max_streams=3)
    assert not refused.admit and refused.wait_minutes == pytest.approx(1.0) and "maximum" in refused.reason
    assert gate.decide(60.0, 0.0, 2.0, max_streams=4).admit


def test_full_engine_refuses_a_new_stream_and_keeps_serving_the_admitted_one(model, conversation):
    """The old admission looked at measured lag only: one real-time stream lags well under its 2 s
    budget, so a second was let in however little room the workers had."""
    # Room for a thousandth of the workers' time: one stream's completed segments need more.
    settings = EngineSettings(admission=AdmissionSettings(utilisation_max=0.001, typical_stream_s=300.0))
    pace = 2.0  # twice real time: the test takes 7 s of audio time

    async def scenario():
        async with live_server(model, settings) as (url, engine):
            first, ready = await open_stream(url, {"uid": "a", "language": "en"})
            completed: dict[str, tuple[float, str]] = {}  # start -> (receipt time, text)
            some_completed = asyncio.Event()

            async def read() -> None:
                async for raw in first:
                    message = json.loads(raw)
                    for segment in message.get("segments", []):
                        if segment["completed"]:
                            completed.setdefault(segment["start"], (time.monotonic(), segment["text"]))
                            some_completed.set()
                    if message.get("message") == "DISCONNECT":
                        return

            async def send() -> None:
                chunk = SAMPLE_RATE // 10
                started = time.monotonic()
                for offset in range(0, len(conversation.audio), chunk):
                    await asyncio.sleep(max(0.0, started + offset / SAMPLE_RATE / pace - time.monotonic()))
                    await first.send(conversation.audio[offset : offset + chunk].astype("<f4").tobytes())
                await first.send(b"END_OF_AUDIO")

            reader, sender = asyncio.create_task(read()), asyncio.create_task(send())
            await some_completed.wait()  # its completed passes are measured now
            second, answer = await open_stream(url, {"uid": "b", "language": "en"})
            refused_at = time.monotonic()
            await second.close()
            async with httpx.AsyncClient() as client:
                stats = (await client.get(url.replace("ws://", "http://") + "/stats")).json()
            await asyncio.gather(sender, reader)
            await first.close()
            await engine.wait_streams(0)
            third, again = await open_stream(url, {"uid": "c", "language": "en"})
            await third.close()
            return ready, answer, refused_at, stats, completed, again

    ready, answer, refused_at, stats, completed, again = run(scenario(), timeout_s=90)
    assert ready["message"] == "SERVER_READY"
    assert answer.get("status") == "WAIT" and answer["uid"] == "b", answer
    # No stream has ended yet, so the first is expected to run the typical 5 minutes; it was
    # a few seconds old.
    assert 4.5 < answer["message"] <= 5.0
    assert stats["refused"] == 1 and stats["accepted"] == 1
    assert stats["admitting"] is False and stats["utilisation"] > 0.001 and stats["wait_minutes"] > 0
    # The admitted stream went on: every turn completed, some of them after the refusal.
    assert len(completed) == 3
    assert any(at > refused_at for at, _ in completed.values())
    text = " ".join(t for _, (_, t) in sorted(completed.items(), key=lambda kv: float(kv[0])))
    assert wer(conversation.text, text) <= 0.2, text
    assert again["message"] == "SERVER_READY"  # once it left, the engine is idle again


def test_partials_yield_while_completed_segments_are_late(model, conversation):
    """A step plans every ended utterance; partial windows fill its budget only while no ended
    utterance has waited longer than `partial_yield_s`."""
    def plan(settings: EngineSettings) -> list[tuple[str, bool]]:
        engine = Engine(model, settings)
        ended = engine.open(parse_config(json.dumps({"uid": "ended", "language": "en"}), False))
        talking = engine.open(parse_config(json.dumps({"uid": "talking", "language": "en"}), False))
        ended.feed(conversation.audio[:84800])  # the first turn and its pause: an utterance ended
        talking.feed(conversation.audio[:40000])  # 2.5 s into the first turn: a partial is due
        return [(job.stream.config.uid, job.final) for job in engine._plan([ended, talking])]

    assert plan(EngineSettings(partial_yield_s=60.0)) == [("ended", True), ("talking", False)]
    # The ended utterance has waited a moment already: with no time allowed, the partial waits.
    assert plan(EngineSettings(partial_yield_s=0.0)) == [("ended", True)]
