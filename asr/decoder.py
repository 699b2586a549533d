"""Batched Whisper passes on short windows, straight on the CTranslate2 model.

On CPU the encoder costs roughly in proportion to the audio it sees, so windows are not padded to
Whisper's 30 s: each window gets a little trailing silence (without it Whisper loops on the last
words), windows of similar length are grouped, and each group is one encode + one generate call.
Decoding is greedy; a pass that fails Whisper's quality thresholds is decoded again with beam
search (`Fallback`), so the extra cost falls only on the rare bad pass.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, replace

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from asr.mel import log_mel

SAMPLE_RATE = 16000
FINAL_TAIL_PAD_S = 1.0
PARTIAL_TAIL_PAD_S = 0.5  # partials are previews; a shorter pad saves encoder time
MAX_WINDOW_S = 29.0  # the encoder's positional table covers 30 s
_MIN_GROUP_RATIO = 0.7  # a group pads at most ~30 % silence onto its shortest window
_TOKENS_PER_SECOND = 7  # generous bound for fast speech; stops runaway repetition early


@dataclass(frozen=True)
class Pass:
    """One window to transcribe; `language` None = detect (multilingual models)."""

    audio: np.ndarray
    language: str | None
    task: str
    context: str | None = None  # initial prompt / hotwords text
    prefix: str | None = None  # text the output must start with (stable part of the last partial)
    tail_pad_s: float = FINAL_TAIL_PAD_S
    preview: bool = False  # a partial pass: batched with the other partials of the step
    fallback: bool = True  # decoded again when it fails the quality thresholds (see Fallback)

    @property
    def samples(self) -> int:
        return min(len(self.audio) + int(self.tail_pad_s * SAMPLE_RATE), int(MAX_WINDOW_S * SAMPLE_RATE))


@dataclass(frozen=True)
class PassResult:
    text: str
    language: str
    language_prob: float
    avg_logprob: float
    no_speech_prob: float
    redecoded: bool = False  # this pass failed the thresholds and was decoded again

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self.text)


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: text bytes over zlib-compressed bytes (loops compress well)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


@dataclass(frozen=True)
class Fallback:
    """Whisper's decoding fallback (its `transcribe`; faster-whisper's too). A greedy pass fails
    when its average token log-probability is below `logprob_threshold` (issue 11: tiny.en
    emitting the first short word of an utterance and stopping scored -1.4 to -1.8, normal
    passes -0.2 to -0.6) or its text compresses better than `compression_ratio_threshold` (a
    repetition loop), unless the model judged the window silence: a no-speech probability above
    `no_speech_threshold` with a log-probability below the threshold, as Whisper rules. A failing
    pass is decoded again with beam search of `beam_size` (deterministic); of the two results the
    one that passes is kept, else the more probable one that is not a loop, as Whisper picks
    among its attempts."""

    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    no_speech_threshold: float = 0.6
    beam_size: int = 5

    def failed(self, result: PassResult) -> bool:
        unsure = result.avg_logprob < self.logprob_threshold
        if unsure and result.no_speech_prob > self.no_speech_threshold:
            return False  # silence: nothing to decode again (the junk filter drops what it made up)
        return unsure or result.compression_ratio > self.compression_ratio_threshold

    def better(self, first: PassResult, again: PassResult) -> PassResult:
        attempts = [r for r in (again, first) if not self.failed(r)]
        if not attempts:
            attempts = [r for r in (again, first) if r.compression_ratio <= self.compression_ratio_threshold]
        best = max(attempts or [first, again], key=lambda r: r.avg_logprob)
        return replace(best, redecoded=True)


class Decoder:
    def __init__(self, whisper: WhisperModel, fallback: Fallback | None = Fallback()) -> None:
        self._whisper = whisper
        self.fallback = fallback  # None: greedy only, whatever comes out
        self._model: ctranslate2.models.Whisper = whisper.model
        self._features = whisper.feature_extractor
        self.multilingual = bool(self._model.is_multilingual)
        self._max_length = 448

    # The caches hold `self`, which B019 warns of: a Decoder lives as long as its loaded model
    # (the whole process), so that is what is wanted.
    @functools.lru_cache(maxsize=64)  # noqa: B019
    def tokenizer(self, language: str | None, task: str) -> Tokenizer:
        return Tokenizer(self._whisper.hf_tokenizer, self.multilingual, task=task, language=language)

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def prompt(self, language: str, task: str, context: str | None) -> tuple[int, ...]:
        tokenizer = self.tokenizer(language, task)
        tokens: list[int] = []
        if context:
            # Previous-text slot: initial prompt and hotwords bias spelling and vocabulary.
            tokens = [tokenizer.sot_prev, *tokenizer.encode(" " + context.strip())[-(self._max_length // 2 - 1):]]
        return (*tokens, *tokenizer.sot_sequence, tokenizer.no_timestamps)

    @functools.cached_property
    def _suppressed(self) -> list[int]:
        return list(get_suppressed_tokens(self.tokenizer("en" if self.multilingual else None, "transcribe"), [-1]))

    def mel(self, windows: list[np.ndarray], samples: int) -> np.ndarray:
        batch = np.zeros((len(windows), samples), np.float32)
        for row, audio in zip(batch, windows, strict=True):
            row[: min(len(audio), samples)] = audio[:samples]
        return log_mel(batch, self._features.mel_filters.shape[0])

    def run(self, passes: list[Pass]) -> list[PassResult]:
        """Transcribe all windows, batching windows of similar length; the passes (that allow it)
        failing the fallback thresholds are decoded again, batched, with beam search."""
        results = self._decode(passes, beam_size=1)
        fallback = self.fallback
        if fallback is None:
            return results
        failing = [i for i, (p, r) in enumerate(zip(passes, results, strict=True)) if p.fallback and fallback.failed(r)]
        return self.redecode(passes, results, failing) if failing else results

    def redecode(self, passes: list[Pass], results: list[PassResult], which: list[int]) -> list[PassResult]:
        """`results` with the passes at `which` decoded again with beam search, each keeping the
        better of its two results (Fallback.better)."""
        fallback = self.fallback or Fallback()
        again = self._decode([passes[i] for i in which], beam_size=fallback.beam_size)
        chosen = list(results)
        for i, result in zip(which, again, strict=True):
            chosen[i] = fallback.better(results[i], result)
        return chosen

    def _decode(self, passes: list[Pass], beam_size: int) -> list[PassResult]:
        results: list[PassResult | None] = [None] * len(passes)
        for group in _groups(passes):
            samples = max(passes[i].samples for i in group)
            features = self.mel([passes[i].audio for i in group], samples)
            encoded = self._model.encode(ctranslate2.StorageView.from_array(features))
            languages = self._languages(features, [passes[i] for i in group])
            prompts = [
                [*self.prompt(language, passes[i].task, passes[i].context), *self._prefix(language, passes[i])]
                for i, (language, _) in zip(group, languages, strict=True)
            ]
            speech = max(len(passes[i].audio) for i in group)
            max_new = int(speech / SAMPLE_RATE * _TOKENS_PER_SECOND) + 6
            outputs = self._model.generate(
                encoded,
                prompts,
                beam_size=beam_size,
                max_length=min(self._max_length, max(len(p) for p in prompts) + max_new),
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=self._suppressed,
            )
            for i, output, (language, probability) in zip(group, outputs, languages, strict=True):
                tokens = output.sequences_ids[0]
                text = self.tokenizer(language, passes[i].task).decode(tokens).strip()
                results[i] = PassResult(
                    text=text,
                    language=language,
                    language_prob=probability,
                    avg_logprob=float(output.scores[0]) if output.scores else 0.0,
                    no_speech_prob=float(output.no_speech_prob),
                )
        return [result for result in results if result is not None]

    def _prefix(self, language: str, item: Pass) -> list[int]:
        # Forcing the already-seen text means the decoder only generates the new words.
        return self.tokenizer(language, item.task).encode(" " + item.prefix.strip()) if item.prefix else []

    def _languages(self, features: np.ndarray, passes: list[Pass]) -> list[tuple[str, float]]:
        """Forced language, or detection (multilingual models) for passes that ask for it."""
        if not self.multilingual:
            return [("en", 1.0)] * len(passes)
        unknown = [i for i, p in enumerate(passes) if p.language is None]
        found: dict[int, tuple[str, float]] = {}
        if unknown:
            mel = np.ascontiguousarray(features[unknown])
            detected = self._model.detect_language(ctranslate2.StorageView.from_array(mel))
            for i, ranking in zip(unknown, detected, strict=True):
                token, probability = ranking[0]
                found[i] = (token[2:-2], float(probability))
        return [found.get(i, (p.language or "en", 1.0)) for i, p in enumerate(passes)]


def _groups(passes: list[Pass]) -> list[list[int]]:
    """Indexes grouped by window length so that padding to the longest wastes little. Partial
    passes (short trailing windows) all go in one group: decoding costs more than encoding and
    one batched `generate` is far cheaper than several small ones. Completed-segment windows never
    join that group: padding every partial to a long utterance would waste encoder time."""
    order = sorted(range(len(passes)), key=lambda i: passes[i].samples, reverse=True)
    previews = [i for i in order if passes[i].preview]
    groups: list[list[int]] = []
    for i in (i for i in order if not passes[i].preview):
        if groups and passes[i].samples >= _MIN_GROUP_RATIO * passes[groups[-1][0]].samples:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups + ([previews] if previews else [])
