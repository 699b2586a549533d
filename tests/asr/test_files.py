"""Offline file transcription in OpenAI's formats (the appliance's /v1/audio endpoints, served by the
ASR server, are tested in tests/api/test_openai_audio.py)."""

from __future__ import annotations

import re

import pytest

from asr import synth
from asr.files import TranscriptionError, transcribe_file
from asr.wer import wer


@pytest.fixture(scope="module")
def wav(conversation) -> bytes:
    return synth.to_wav_bytes(conversation.audio)


def test_transcribe_file_from_path_and_bytes(model, conversation, wav, tmp_path):
    path = tmp_path / "meeting.wav"
    path.write_bytes(wav)
    from_path = transcribe_file(path, "en", "json", model=model)
    assert isinstance(from_path, dict) and wer(conversation.text, from_path["text"]) <= 0.2
    assert transcribe_file(wav, None, "text", model=model) == from_path["text"] + "\n"


def test_transcribe_file_rejects_bad_input(model, wav):
    with pytest.raises(TranscriptionError, match="response_format"):
        transcribe_file(wav, "en", "docx", model=model)
    with pytest.raises(TranscriptionError, match="cannot decode"):
        transcribe_file(b"definitely not audio", "en", "json", model=model)


def test_transcribe_file_formats(model, conversation, wav):
    body = transcribe_file(wav, None, "verbose_json", model=model)
    assert isinstance(body, dict)
    assert body["language"] == "en" and body["duration"] == pytest.approx(conversation.seconds, abs=0.1)
    assert wer(conversation.text, body["text"]) <= 0.2
    assert [s["id"] for s in body["segments"]] == list(range(len(body["segments"])))
    assert {"avg_logprob", "no_speech_prob", "tokens"} <= set(body["segments"][0])

    srt = transcribe_file(wav, "en", "srt", model=model)
    assert isinstance(srt, str) and re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", srt)
    vtt = transcribe_file(wav, "en", "vtt", model=model)
    assert isinstance(vtt, str) and vtt.startswith("WEBVTT\n\n00:00:") and "." in vtt.splitlines()[2]


def test_an_english_only_model_refuses_translation(model, wav):
    with pytest.raises(TranscriptionError, match="English-only"):
        transcribe_file(wav, None, "json", model=model, task="translate")
