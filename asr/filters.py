"""Dropping text Whisper invents on silence or noise, and collapsing repetition loops."""

from __future__ import annotations

import re

# Whole-utterance outputs typical of Whisper on non-speech (subtitle-credit training data).
JUNK_PHRASES = frozenset(
    {
        "thank you", "thanks", "thank you very much", "thanks for watching",
        "thank you for watching", "thanks for watching and see you next time",
        "please subscribe", "subscribe", "like and subscribe", "you", "bye", "bye bye",
        "oh", "uh", "um", "hmm", "so", "okay", "the end", "music", "applause", "silence",
        "subtitles by the amaraorg community", "transcription by castingwords",
    }
)
# Confidence below which a junk phrase is taken as invented rather than spoken.
JUNK_MAX_LOGPROB = -0.5
JUNK_MIN_NO_SPEECH = 0.3


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def collapse_repeats(text: str, max_repeats: int = 2, shortest: int = 1) -> str:
    """Keep at most `max_repeats` consecutive copies of any `shortest`- to 6-word sequence."""
    words = text.split()
    for size in range(shortest, 7):
        kept: list[str] = []
        for word in words:
            kept.append(word)
            window = size * (max_repeats + 1)
            if len(kept) >= window:
                tail = [_plain(w) for w in kept[-window:]]
                chunks = [tail[k : k + size] for k in range(0, window, size)]
                if all(chunk == chunks[0] for chunk in chunks):
                    del kept[-size:]
        words = kept
    return " ".join(words)


def drop_repeated_tail(text: str, min_words: int = 4) -> str:
    """Drop a tail of `min_words`+ words that repeats words said earlier in the same window
    (Whisper starting the utterance over at the end of a short window)."""
    words = text.split()
    plain = [_plain(w) for w in words]
    for size in range(len(words) // 2, min_words - 1, -1):
        tail = plain[-size:]
        for start in range(0, len(words) - 2 * size + 1):
            if plain[start : start + size] == tail:
                return " ".join(words[:-size])
    return text


def drop_restart(text: str) -> str:
    """Drop a tail that repeats the window's first words ("Let's start with the quarter. Let's
    start"): on a window that ends mid-word Whisper often starts the window over. Only for
    partial text, where losing a genuinely repeated last word costs nothing (the next pass or
    the completed segment brings it back)."""
    words = text.split()
    plain = [_plain(w) for w in words]
    while len(words) >= 2:
        # The restart may skip a first word ("Great! Can we move the product? Can we move"),
        # so a tail of two or more words may match from the second or third word on.
        size = next(
            (k for k in range(len(words) // 2, 0, -1)
             for start in range(0, 3 if k >= 2 else 1)
             if start + k <= len(words) - k and plain[-k:] == plain[start:start + k]),
            0,
        )
        if not size:
            break
        words, plain = words[:-size], plain[:-size]
    return " ".join(words)


def clean(text: str, avg_logprob: float, no_speech_prob: float, preview: bool = False) -> str:
    """Text worth showing, or "" for junk; `preview`: partial text (see drop_restart)."""
    text = drop_repeated_tail(collapse_repeats(" ".join(text.split())))
    if preview:
        # A phrase said twice in a row is far more often a loop than speech in a partial.
        text = drop_restart(collapse_repeats(text, max_repeats=1, shortest=2))
    plain = _plain(text)
    if not plain:
        return ""
    if plain in JUNK_PHRASES and (avg_logprob < JUNK_MAX_LOGPROB or no_speech_prob > JUNK_MIN_NO_SPEECH):
        return ""
    if re.fullmatch(r"[\[(].*[\])]", text.strip()):  # "[Music]", "(silence)" and the like
        return ""
    return text
