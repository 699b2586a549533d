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


def deletions(reference: str, hypothesis: str) -> int:
    """Words of `reference` with nothing in their place in `hypothesis`: the deletions of a
    minimal word alignment (of equally short ones, the one with the fewest deletions). A misheard
    word is a substitution, not a deletion: this counts words lost, not words wrong."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    previous = [(j, 0) for j in range(len(hyp) + 1)]  # (edits, deletions) per prefix of hyp
    for i, ref_word in enumerate(ref, start=1):
        current = [(i, i)]
        for j, hyp_word in enumerate(hyp, start=1):
            edits, dropped = previous[j - 1]
            current.append(min(
                (edits + (ref_word != hyp_word), dropped),
                (previous[j][0] + 1, previous[j][1] + 1),  # reference word dropped
                (current[j - 1][0] + 1, current[j - 1][1]),  # hypothesis word inserted
            ))
        previous = current
    return previous[-1][1]


def partial_errors(completed: str, partial: str) -> tuple[int, int]:
    """(errors, words) of a partial text against as many first words of its completed text,
    i.e. the words the partial had reached; (0, 0) when it shows none."""
    reached = normalize(completed)[: len(normalize(partial))]
    return word_errors(" ".join(reached), partial) if reached else (0, 0)


def wer(reference: str, hypothesis: str) -> float:
    errors, words = word_errors(reference, hypothesis)
    return errors / max(words, 1)
