"""Partial-text quality against encoder cost, per partial window, offline (no timing involved).

The benchmark's meetings (asr_load.py's audio) go through the real engine's stream logic and
model passes, one step at a time, as on an idle server: every ended utterance gets its completed
segment, every 0.3 s of new speech a partial pass. Reported per partial window (the longest
stretch of an ongoing utterance one partial pass encodes; see asr.stream.PartialWindow):

  - partial WER, every partial: each partial against as many first words of its utterance's
    completed segment (a word cut at the end of a partial counts as an error);
  - partial WER, last: only each utterance's last partial;
  - partial passes (freeze passes included) and the audio they encoded, in total and per pass:
    on a CPU the encoder's cost follows the audio, so this is what a shorter window saves.

    .venv/bin/python benchmarks/asr_partials.py --windows 4.0,3.0,2.5,2.0
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from asr import synth  # noqa: E402
from asr.config_frame import parse_config  # noqa: E402
from asr.engine import Engine, EngineSettings  # noqa: E402
from asr.models import LoadedModel, load_model  # noqa: E402
from asr.protocol import Segment  # noqa: E402
from asr.stream import Job, PartialWindow  # noqa: E402
from asr.vad import SAMPLE_RATE  # noqa: E402
from asr.wer import partial_errors  # noqa: E402

CHUNK = SAMPLE_RATE // 10  # the load benchmark's 0.1 s chunks


@dataclass
class Score:
    errors: int = 0
    words: int = 0
    last_errors: int = 0
    last_words: int = 0
    passes: int = 0
    encoded: int = 0  # samples

    def line(self, label: str) -> str:
        seconds = self.encoded / SAMPLE_RATE
        return (
            f"| {label} | {self.errors / max(self.words, 1):.1%} | {self.last_errors / max(self.last_words, 1):.1%} | "
            f"{self.passes} | {seconds:.0f} s | {seconds / max(self.passes, 1):.2f} s |"
        )


def window_for(length_s: float) -> PartialWindow:
    """The cut region scales with the window (4 s: cut between 2.5 s and 1 s before the end)."""
    return PartialWindow(length_s, cut_from_s=0.625 * length_s, cut_to_s=0.25 * length_s)


def score_meeting(model: LoadedModel, window: PartialWindow, clip: synth.Clip, score: Score) -> None:
    engine = Engine(model, EngineSettings(partial_window=window))
    stream = engine.open(parse_config(b'{"uid": "partials", "language": "en"}', model.multilingual))
    partials: dict[float, list[str]] = {}
    completed: dict[float, str] = {}

    def run(jobs: list[Job]) -> None:
        for job in (j for j in jobs if not j.final):
            score.passes += 1 + (job.freeze_end is not None)
            score.encoded += job.samples
        for _, update in engine._step(jobs):
            for segment in update.changed:
                record(segment)

    def record(segment: Segment) -> None:
        if segment.completed:
            completed[segment.start] = segment.text
        else:
            partials.setdefault(segment.start, []).append(segment.text)

    step = int(engine.settings.partial_step_s * SAMPLE_RATE)
    for at in range(0, len(clip.audio), CHUNK):
        stream.feed(clip.audio[at : at + CHUNK])
        if finals := stream.finals(stream.take_finals()):
            run(finals)
        if (job := stream.partial_candidate(step)) is not None:
            stream.partial_end = job.end
            run([job])
    stream.end()
    run(stream.finals(stream.take_finals()))
    for start, shown in partials.items():
        for n, text in enumerate(shown):
            errors, words = partial_errors(completed.get(start, ""), text)
            score.errors, score.words = score.errors + errors, score.words + words
            if n == len(shown) - 1:
                score.last_errors, score.last_words = score.last_errors + errors, score.last_words + words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", default="4.0,3.0,2.5,2.0", help="partial windows in seconds")
    parser.add_argument("--clips", type=int, default=4, help="distinct meetings, as in asr_load.py")
    parser.add_argument("--model", default=None, help="model directory; default the dev tiny.en")
    args = parser.parse_args()
    model = load_model(args.model)
    clips = [synth.meeting(12, offset=3 * i) for i in range(args.clips)]
    print("| partial window | partial WER, every partial | partial WER, last | partial passes | audio encoded "
          "| per pass |")
    print("|---|---|---|---|---|---|")
    for length_s in (float(x) for x in args.windows.split(",")):
        score = Score()
        for clip in clips:
            score_meeting(model, window_for(length_s), clip, score)
        print(score.line(f"{length_s:g} s"), flush=True)


if __name__ == "__main__":
    main()
