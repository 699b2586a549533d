"""What Whisper's decoding fallback costs and changes on completed segments, offline.

The load benchmark's four meetings (asr_load.py) are cut into utterances by the engine's own VAD
and endpointer, and every utterance is decoded as a completed-segment pass twice: greedy only
(the decoder before issue 11) and with `asr.decoder.Fallback` (a pass below -1.0 average
log-probability, not judged silence, or above 2.4 compression ratio decoded again with beam 5).
Reported per mode: model time (one thread, passes one at a time as at real time), passes decoded
again, WER against the script and words dropped (deletions). Deterministic, unlike the CPU time
of a load run, where the number of partial passes varies with scheduling.

    nice -n 10 .venv/bin/python benchmarks/asr_fallback.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from asr import synth  # noqa: E402
from asr.decoder import Decoder, Fallback, Pass, PassResult  # noqa: E402
from asr.models import load_model  # noqa: E402
from asr.vad import FRAME, Endpointer, SileroStream  # noqa: E402
from asr.wer import deletions, word_errors  # noqa: E402


def utterances(audio: np.ndarray) -> list[np.ndarray]:
    """The windows the engine's completed-segment passes would get (fed in 0.1 s chunks)."""
    audio = audio[: len(audio) // FRAME * FRAME]
    endpointer, vad, found = Endpointer(), SileroStream(), []
    chunk = 1600 // FRAME * FRAME
    for offset in range(0, len(audio), chunk):
        found += endpointer.feed(vad(audio[offset : offset + chunk]))
    found += endpointer.flush()
    return [audio[u.start : u.end] for u in found]


def decode_all(decoder: Decoder, windows: list[np.ndarray]) -> tuple[list[PassResult], float]:
    began = time.perf_counter()
    results = [decoder.run([Pass(w, "en", "transcribe")])[0] for w in windows]
    return results, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--clips", type=int, default=4)
    args = parser.parse_args()
    model = load_model(None)
    clips = [synth.meeting(args.turns, offset=3 * i) for i in range(args.clips)]
    cut = [utterances(clip.audio) for clip in clips]
    windows = [w for c in cut for w in c]
    speech_s = sum(len(w) for w in windows) / 16000
    print(f"{len(clips)} meetings, {len(windows)} utterances, {speech_s:.0f} s of speech windows")
    print("| decoder | model time (s) | passes decoded again | WER | words dropped |")
    print("|---|---|---|---|---|")
    for name, fallback in (("greedy only (before)", None), ("with the fallback", Fallback())):
        decoder = Decoder(model.whisper, fallback)
        decode_all(decoder, windows[:3])  # warm-up
        results, seconds = decode_all(decoder, windows)
        errors = words = dropped = 0
        at = 0
        for clip, pieces in zip(clips, cut, strict=True):
            heard = " ".join(r.text for r in results[at : at + len(pieces)])
            at += len(pieces)
            e, w = word_errors(clip.text, heard)
            errors, words = errors + e, words + w
            dropped += deletions(clip.text, heard)
        again = sum(r.redecoded for r in results)
        print(f"| {name} | {seconds:.2f} | {again} of {len(results)} | {errors / words:.1%} | {dropped} |")


if __name__ == "__main__":
    main()
