"""Word error rate with Whisper-style text normalisation (tests and the load benchmark)."""

from __future__ import annotations

import re

_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
    "twelve": "12", "second": "2nd", "percent": "%",
}


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation; number words and digits compare equal."""
    text = text.lower().replace("%", " percent ").replace("'", "")
    words = re.sub(r"[^a-z0-9 ]+", " ", text).split()
    return [_NUMBERS.get(word, word) for word in words]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference word count)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_word != hyp_word),
            )
        previous = current
    return previous[-1], len(ref)


def partial_errors(completed: str, partial: str) -> tuple[int, int]:
    """(errors, words) of a partial text against as many first words of its completed text,
    i.e. the words the partial had reached; (0, 0) when it shows none."""
    reached = normalize(completed)[: len(normalize(partial))]
    return word_errors(" ".join(reached), partial) if reached else (0, 0)


def wer(reference: str, hypothesis: str) -> float:
    errors, words = word_errors(reference, hypothesis)
    return errors / max(words, 1)
