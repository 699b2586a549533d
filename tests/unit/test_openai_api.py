"""OpenAI's audio request rules (asr.openai_api.parse_request) and answer formats."""

from __future__ import annotations

import pytest

from asr.openai_api import AudioRequest, OpenAIError, parse_request, render

MODELS = ("whisper-1", "tiny.en")


def refusal(fields: dict[str, list[str]], task: str = "transcribe", multilingual: bool = False) -> OpenAIError:
    with pytest.raises(OpenAIError) as raised:
        parse_request(fields, task, MODELS, multilingual)
    return raised.value


def test_a_plain_request_gets_the_defaults() -> None:
    assert parse_request({}, "transcribe", MODELS, False) == AudioRequest("transcribe", "whisper-1", None, None, "json")
    asked = parse_request(
        {"model": ["tiny.en"], "language": ["EN"], "prompt": ["Vomeet"], "response_format": ["verbose_json"],
         "temperature": ["0"], "timestamp_granularities[]": ["segment"]},
        "transcribe", MODELS, False,
    )
    assert asked == AudioRequest("transcribe", "tiny.en", "en", "Vomeet", "verbose_json")


def test_what_cannot_be_honoured_is_refused_by_name() -> None:
    assert refusal({"stream": ["true"]}).param == "stream"
    assert parse_request({"stream": ["false"]}, "transcribe", MODELS, False).response_format == "json"
    assert refusal({"chunking_strategy": ["auto"]}).code == "unsupported_parameter"
    assert refusal({"language": ["en"]}, task="translate").param == "language"  # OpenAI's translations take none
    assert refusal({"model": ["whisper-1", "tiny.en"]}).param == "model"
    assert refusal({"model": ["gpt-4o-transcribe"]}).code == "model_not_found"
    assert refusal({"response_format": ["xml"]}).param == "response_format"
    assert refusal({"temperature": ["0.4"]}).param == "temperature"
    assert refusal({"temperature": ["warm"]}).param == "temperature"
    words_in_json = {"timestamp_granularities[]": ["word"], "response_format": ["verbose_json"]}
    assert refusal(words_in_json).code == "unsupported_value"
    assert refusal({"timestamp_granularities[]": ["segment"]}).param == "timestamp_granularities[]"


def test_an_english_only_model_neither_translates_nor_hears_german() -> None:
    assert refusal({}, task="translate").code == "translation_unavailable"
    assert refusal({"language": ["de"]}).param == "language"
    assert parse_request({"language": ["de"]}, "transcribe", MODELS, True).language == "de"
    assert parse_request({}, "translate", MODELS, True).task == "translate"


def test_the_error_shape_is_openais() -> None:
    body = refusal({"stream": ["true"]}).body()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"


def test_formats() -> None:
    segments = [{"start": 0.5, "end": 2.25, "text": "Hello there."}, {"start": 3661.0, "end": 3662.5, "text": "Bye."}]
    assert render(segments, "json", "en", 3663, "transcribe") == {"text": "Hello there. Bye."}
    assert render(segments, "text", "en", 3663, "transcribe") == "Hello there. Bye.\n"
    assert render(segments, "srt", "en", 3663, "transcribe") == (
        "1\n00:00:00,500 --> 00:00:02,250\nHello there.\n\n2\n01:01:01,000 --> 01:01:02,500\nBye.\n\n"
    )
    vtt = str(render(segments, "vtt", "en", 3663, "transcribe"))
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\n")
    verbose = render(segments, "verbose_json", "en", 3663, "transcribe")
    assert isinstance(verbose, dict) and verbose["duration"] == 3663 and verbose["language"] == "en"
    assert verbose["segments"][1] == {"id": 1, "seek": 0, "start": 3661.0, "end": 3662.5, "text": "Bye."}
