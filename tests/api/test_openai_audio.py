"""OpenAI-compatible /v1/audio endpoints, used through the official `openai` client against the
real appliance (`vomeet serve` with its `vomeet asr` child and tiny.en), on espeak-ng speech."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import openai
import pytest

from asr import synth
from asr.wer import wer
from tests.conftest import Appliance, appliance_env, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]
MAX_BYTES = 1_500_000  # small limits, so that the refusals are quick to provoke
MAX_DURATION_S = 25


@pytest.fixture(scope="module")
def asr_appliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    root = tmp_path_factory.mktemp("openai-audio")
    port = free_port()
    env = appliance_env(
        root / "data", port, asr_enabled="true", asr_port=str(free_port()),
        openai_audio_max_bytes=str(MAX_BYTES), openai_audio_max_duration_s=str(MAX_DURATION_S),
    )
    app = Appliance(root / "data", env, port).start()
    wait_until(lambda: httpx.get(f"{app.base_url}/readyz").json()["checks"]["asr"]["ok"], 120, 0.5,
               what="the ASR child to load its model")
    yield app
    app.stop()
    app.reap_leftovers()


@pytest.fixture(scope="module")
def token(asr_appliance: Appliance) -> str:
    return asr_appliance.new_user("openai-audio@example.com")[1]


def client_of(app: Appliance, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{app.base_url}/v1", api_key=key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def meeting() -> synth.Clip:
    return synth.meeting(4)  # about 20 s, four voices


@pytest.fixture(scope="module")
def wav(meeting: synth.Clip) -> bytes:
    return synth.to_wav_bytes(meeting.audio)


def test_transcription_text_and_formats(asr_appliance: Appliance, token: str, meeting: synth.Clip, wav: bytes) -> None:
    client = client_of(asr_appliance, token)
    plain = client.audio.transcriptions.create(model="whisper-1", file=("meeting.wav", wav, "audio/wav"))
    assert wer(meeting.text, plain.text) < 0.25, plain.text

    verbose = client.audio.transcriptions.create(
        model="whisper-1", file=("meeting.wav", wav), response_format="verbose_json",
        language="en", timestamp_granularities=["segment"],
    )
    assert verbose.language == "en" and verbose.duration == pytest.approx(meeting.seconds, abs=0.05)
    assert wer(meeting.text, verbose.text) < 0.25
    segments = verbose.segments or []
    assert len(segments) >= 3 and [s.id for s in segments] == list(range(len(segments)))
    assert all(0 <= s.start < s.end <= meeting.seconds + 0.5 for s in segments)
    assert [s.start for s in segments] == sorted(s.start for s in segments)

    srt = client.audio.transcriptions.create(model="whisper-1", file=("meeting.wav", wav), response_format="srt")
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", srt), srt
    vtt = client.audio.transcriptions.create(model="tiny.en", file=("meeting.wav", wav), response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:") and re.search(r"\d\d\.\d{3} --> ", vtt), vtt
    text = client.audio.transcriptions.create(model="whisper-1", file=("meeting.wav", wav), response_format="text")
    assert wer(meeting.text, text) < 0.25 and text.endswith("\n")


def test_x_api_key_and_a_compressed_upload(asr_appliance: Appliance, token: str, meeting: synth.Clip, tmp_path) -> None:
    import subprocess

    wav_path, ogg_path = tmp_path / "m.wav", tmp_path / "m.ogg"
    wav_path.write_bytes(synth.to_wav_bytes(meeting.audio))
    subprocess.run(["sox", str(wav_path), "-r", "44100", "-c", "2", str(ogg_path)], check=True)
    with asr_appliance.client(token) as http:
        answer = http.post("/v1/audio/transcriptions", files={"file": ("m.ogg", ogg_path.read_bytes())},
                           data={"model": "whisper-1"}, timeout=120)
    assert answer.status_code == 200, answer.text
    assert wer(meeting.text, answer.json()["text"]) < 0.25


def error_of(raised: pytest.ExceptionInfo[openai.APIStatusError]) -> dict:
    body = raised.value.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_limits_and_unsupported_fields(asr_appliance: Appliance, token: str, wav: bytes) -> None:
    client = client_of(asr_appliance, token)
    for size in (MAX_BYTES + 1, 3 * MAX_BYTES):  # just over; far over (not kept, only drained)
        with pytest.raises(openai.APIStatusError) as too_large:
            client.audio.transcriptions.create(model="whisper-1", file=("big.wav", b"\0" * size))
        assert too_large.value.status_code == 413 and error_of(too_large)["code"] == "file_too_large"

    long_clip = synth.to_wav_bytes(synth.meeting(6).audio)  # about 30 s, under the byte limit
    assert len(long_clip) < MAX_BYTES
    with pytest.raises(openai.BadRequestError) as too_long:
        client.audio.transcriptions.create(model="whisper-1", file=("long.wav", long_clip))
    assert error_of(too_long)["code"] == "audio_too_long" and f"{MAX_DURATION_S} s" in too_long.value.message

    with pytest.raises(openai.BadRequestError) as words:
        client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", wav), response_format="verbose_json", timestamp_granularities=["word"]
        )
    assert error_of(words)["param"] == "timestamp_granularities[]"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav), extra_body={"stream": "true"})
    assert error_of(unknown)["param"] == "stream" and "not supported" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as model:
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", wav))
    assert error_of(model)["code"] == "model_not_found" and "whisper-1" in model.value.message
    with pytest.raises(openai.BadRequestError) as hot:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav), temperature=0.7)
    assert error_of(hot)["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as xml:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav), response_format="xml")  # type: ignore[call-overload]
    assert error_of(xml)["param"] == "response_format"
    with httpx.Client(base_url=asr_appliance.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        no_file = http.post("/v1/audio/transcriptions", files={"model": (None, "whisper-1")})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    with pytest.raises(openai.BadRequestError) as garbage:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"not audio at all" * 100))
    assert error_of(garbage)["code"] == "invalid_audio"


def test_translation_is_refused_by_an_english_only_model(asr_appliance: Appliance, token: str, wav: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client_of(asr_appliance, token).audio.translations.create(model="whisper-1", file=("a.wav", wav))
    error = error_of(refused)
    assert error["code"] == "translation_unavailable" and "English-only" in error["message"]
    with pytest.raises(openai.BadRequestError) as german:
        client_of(asr_appliance, token).audio.transcriptions.create(
            model="whisper-1", file=("a.wav", wav), language="de"
        )
    assert error_of(german)["param"] == "language"


def test_keys(asr_appliance: Appliance, wav: bytes) -> None:
    for key in ("vmt_" + "A" * 43, asr_appliance.admin_key):
        with pytest.raises(openai.AuthenticationError) as refused:
            client_of(asr_appliance, key).audio.transcriptions.create(model="whisper-1", file=("a.wav", wav))
        assert error_of(refused)["code"] == "invalid_api_key"
    missing = httpx.post(f"{asr_appliance.base_url}/v1/audio/translations", files={"file": ("a.wav", wav)})
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]["message"]


def test_no_asr_server_is_a_503(appliance: Appliance, wav: bytes) -> None:
    """The shared appliance runs no ASR server."""
    _, key = appliance.new_user("openai-no-asr@example.com")
    with pytest.raises(openai.InternalServerError) as down:
        client_of(appliance, key).audio.transcriptions.create(model="whisper-1", file=("a.wav", wav))
    assert down.value.status_code == 503 and error_of(down)["code"] == "asr_unavailable"
