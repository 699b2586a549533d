"""File transcription and its OpenAI-compatible endpoint, over a real uvicorn-free ASGI client."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from asr import synth
from asr.files import TranscriptionError, transcribe_file
from asr.openai_api import transcription_routes
from asr.wer import wer


@pytest.fixture(scope="module")
def wav(conversation) -> bytes:
    return synth.to_wav_bytes(conversation.audio)


@pytest.fixture(scope="module")
def client(model):
    return TestClient(Starlette(routes=transcription_routes(lambda: model)))


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


def test_openai_endpoint_formats(client, conversation, wav):
    files = {"file": ("meeting.wav", wav, "audio/wav")}
    verbose = client.post("/v1/audio/transcriptions", files=files, data={"model": "whisper-1", "response_format": "verbose_json"})
    assert verbose.status_code == 200
    body = verbose.json()
    assert body["language"] == "en" and body["duration"] == pytest.approx(conversation.seconds, abs=0.1)
    assert wer(conversation.text, body["text"]) <= 0.2
    assert [s["id"] for s in body["segments"]] == list(range(len(body["segments"])))

    srt = client.post("/v1/audio/transcriptions", files=files, data={"response_format": "srt"})
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", srt.text)

    vtt = client.post("/v1/audio/transcriptions", files=files, data={"response_format": "vtt"})
    assert vtt.text.startswith("WEBVTT\n\n00:00:") and "." in vtt.text.splitlines()[2]

    plain = client.post("/v1/audio/transcriptions", files=files, data={"response_format": "json"})
    assert plain.json() == {"text": body["text"]}


def test_openai_endpoint_errors(client, wav):
    missing = client.post("/v1/audio/transcriptions", data={"model": "whisper-1"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "file"
    bad_format = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"response_format": "xml"})
    assert bad_format.status_code == 400 and "response_format" in bad_format.json()["error"]["message"]
    translate = client.post("/v1/audio/translations", files={"file": ("a.wav", wav)})
    assert translate.status_code == 400 and "English-only" in translate.json()["error"]["message"]
