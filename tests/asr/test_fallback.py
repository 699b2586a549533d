"""Whisper's decoding fallback (asr.decoder.Fallback) and the completion guard (Stream.doubtful):
the thresholds, which result is kept, and what a short, unsure completion does to a segment."""

from __future__ import annotations

import json

from asr import synth
from asr.config_frame import parse_config
from asr.decoder import Decoder, Fallback, Pass, PassResult, compression_ratio
from asr.sink import StreamInfo
from asr.stream import Job, Stream
from asr.vad import SAMPLE_RATE, EndpointConfig
from tests.conftest import require_programs

LONG = "Fine. Then we can move the review to next week and ask the whole team to join."


def result(text: str, avg_logprob: float, no_speech_prob: float = 0.05) -> PassResult:
    return PassResult(text, "en", 1.0, avg_logprob, no_speech_prob)


def test_compression_ratio_flags_loops_not_speech():
    assert compression_ratio(LONG) < 1.5
    assert compression_ratio("so you can an an an an an an an an an an an an an an an an an an") > 2.4
    assert compression_ratio("") == 0.0


def test_a_pass_fails_on_low_confidence_or_a_loop_unless_it_is_silence():
    fallback = Fallback()
    assert not fallback.failed(result(LONG, -0.3))
    assert fallback.failed(result("Fine.", -1.5))  # the early stop of issue 11
    assert fallback.failed(result("and then " * 12, -0.2))  # confident, but a loop
    assert not fallback.failed(result("you", -1.5, no_speech_prob=0.8))  # silence: nothing to redo
    assert not fallback.failed(result("you you you you you you you you you you you", -1.5, no_speech_prob=0.8))
    assert fallback.failed(result("you you you you you you you you you you you", -0.5, no_speech_prob=0.8))
    assert fallback.failed(result("Fine.", -1.5, no_speech_prob=0.5))


def test_the_better_result_is_kept_and_marked_redecoded():
    fallback = Fallback()
    greedy, beam = result("Fine.", -1.5), result(LONG, -0.3)
    assert fallback.better(greedy, beam) == PassResult(LONG, "en", 1.0, -0.3, 0.05, redecoded=True)
    # Both unsure: the more probable of those that are not loops.
    worse = result("Fine. Then we move.", -1.2)
    assert fallback.better(greedy, worse).text == "Fine. Then we move."
    loop = result("the review " * 15, -0.4)
    assert fallback.better(greedy, loop).text == "Fine."


def stream() -> Stream:
    config = parse_config(json.dumps({"uid": "guard", "language": "en"}), multilingual=False)
    return Stream(config, StreamInfo("guard", None, None, "en", "transcribe"), EndpointConfig())


def seconds(s: float) -> int:
    return int(s * SAMPLE_RATE)


def test_short_unsure_completion_keeps_the_words_the_partial_showed():
    s = stream()
    partial = Job(s, seconds(1.0), seconds(5.0), False, seconds(5.0))
    final = Job(s, seconds(1.0), seconds(6.8), True, seconds(6.6))
    shown = "Fine. Then we can move the review to next week and ask"
    s.apply(partial, shown)
    assert s.doubtful(final, "Fine.", -1.3)
    [segment] = s.apply(final, "Fine.", avg_logprob=-1.3)
    assert (segment.text, segment.completed, segment.start, segment.end) == (shown, True, 1.0, 6.6)
    assert s.partial is None and s.completed == [segment]


def test_confident_or_comparable_completions_are_taken_as_they_are():
    s = stream()
    s.apply(Job(s, 0, seconds(4.0), False, seconds(4.0)), "Fine. Then we can move the review to")
    final = Job(s, 0, seconds(6.0), True, seconds(5.8))
    assert not s.doubtful(final, "Fine.", -0.3)  # sure of it: the partial was the one wrong
    assert not s.doubtful(final, "Fine. Then we can move the", -1.3)  # most words kept
    [segment] = s.apply(final, "Fine.", avg_logprob=-0.3)
    assert segment.text == "Fine."


def test_a_partial_of_another_utterance_does_not_guard():
    s = stream()
    s.apply(Job(s, seconds(8.0), seconds(12.0), False, seconds(12.0)), "Could you share the numbers from last week")
    earlier = Job(s, seconds(1.0), seconds(2.0), True, seconds(1.8))
    assert not s.doubtful(earlier, "Fine.", -1.5)


def test_a_looping_pass_is_decoded_again_with_the_real_model(model):
    """Speech that is a repetition compresses like a loop: the pass is decoded again (beam 5),
    and of two loops the more probable is kept, so real repeated words survive."""
    require_programs(*synth.SPEECH_PROGRAMS)
    audio = synth.synthesize("No, no, no, no, no, no, no, no, no, no, no, no.")
    greedy = Decoder(model.whisper, None).run([Pass(audio, "en", "transcribe")])[0]
    [again] = Decoder(model.whisper, Fallback()).run([Pass(audio, "en", "transcribe")])
    assert greedy.compression_ratio > 2.4 and not greedy.redecoded
    assert again.redecoded and again.text.lower().count("no") >= 10
    [partial] = Decoder(model.whisper, Fallback()).run([Pass(audio, "en", "transcribe", fallback=False)])
    assert not partial.redecoded  # a pass that does not allow it is left as it is
