"""What one Whisper pass costs on this machine, by batch size: the encoder and `generate`, each
timed alone in one single-threaded worker (as the engine runs them on CPU), on partial-sized
windows of synthesized meeting speech. These are the figures behind the engine's throughput
model in docs/asr.md (why partial latency at 16 streams is bounded by the cores).

    .venv/bin/python benchmarks/asr_pass_costs.py [--window 3.4] [--batches 1,2,4,8,16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ctranslate2
import numpy as np
from threadpoolctl import threadpool_limits

from asr import synth
from asr.decoder import PARTIAL_TAIL_PAD_S, Decoder, Pass
from asr.models import load_model
from asr.vad import SAMPLE_RATE


def best_of(repeats: int, call: Callable[[], object]) -> float:
    """Fastest of `repeats` timed calls after one warm-up (the least disturbed by neighbours)."""
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=3.4, help="seconds of speech per window (a pad is added)")
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    threadpool_limits(1, user_api="blas")
    model = load_model(None, cpu_threads=1)
    decoder = Decoder(model.whisper)
    audio = synth.meeting(12).audio
    step, length = int(1.7 * SAMPLE_RATE), int(args.window * SAMPLE_RATE)
    batches = [int(b) for b in args.batches.split(",")]
    windows = [audio[i * step : i * step + length] for i in range(max(batches))]
    prompt = list(decoder.prompt("en", "transcribe", None))
    print(f"tiny.en int8, 1 thread, windows of {args.window} s + {PARTIAL_TAIL_PAD_S} s pad, best of {args.repeats}")
    print("| batch | encoder (ms) | per window | generate (ms) | per window | longest output (tokens) "
          "| per decoder step (ms) |")
    print("|---|---|---|---|---|---|---|")
    for batch in batches:
        print(measure(decoder, windows[:batch], prompt, args.repeats))


def measure(decoder: Decoder, windows: list[np.ndarray], prompt: list[int], repeats: int) -> str:
    """One table row: encoder and `generate` on this batch of windows."""
    whisper = decoder._model  # the engine's own CTranslate2 model
    batch = len(windows)
    passes = [Pass(w, "en", "transcribe", None, None, PARTIAL_TAIL_PAD_S, True) for w in windows]
    features = ctranslate2.StorageView.from_array(decoder.mel([p.audio for p in passes], passes[0].samples))
    encoder = best_of(repeats, lambda: whisper.encode(features))
    encoded = whisper.encode(features)
    suppressed = list(decoder._suppressed)  # the engine's own list
    outputs: list[ctranslate2.models.WhisperGenerationResult] = []

    def generate() -> None:
        outputs[:] = whisper.generate(
            encoded, [prompt] * batch, beam_size=1, max_length=len(prompt) + 30, suppress_blank=True,
            suppress_tokens=suppressed,
        )

    generating = best_of(repeats, generate)
    longest = max(len(o.sequences_ids[0]) for o in outputs)
    mean_tokens = statistics.mean(len(o.sequences_ids[0]) for o in outputs)
    return (
        f"| {batch} | {encoder * 1000:.0f} | {encoder * 1000 / batch:.1f} | {generating * 1000:.0f} | "
        f"{generating * 1000 / batch:.1f} | {longest} (mean {mean_tokens:.1f}) | {generating * 1000 / longest:.1f} |"
    )

if __name__ == "__main__":
    main()
