"""Meeting-like test speech synthesized with espeak-ng (tests and the load benchmark).

Synthesis happens at run time into memory, so no audio fixture is stored or downloaded.
"""

from __future__ import annotations

import io
import subprocess
import wave
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000

# (voice variant, words per minute) per speaker: distinct voices make the clip meeting-like.
VOICES: tuple[tuple[str, int], ...] = (
    ("en-us", 165),
    ("en-gb", 155),
    ("en-us+f3", 170),
    ("en-gb-x-rp", 150),
)

MEETING_TURNS: tuple[str, ...] = (
    "Good morning everyone. Let's start with the quarterly budget review.",
    "Thanks. Our marketing spend was twelve percent lower than planned this quarter.",
    "That is good news. What happened with the hiring plan for the support team?",
    "We hired three new engineers, and two more will join next month.",
    "Great. Can we move the product launch to the second week of June?",
    "I think that works, but the design team needs the final copy by Friday.",
    "Please send me the updated slides after the meeting.",
    "Sure, I will share them with everyone this afternoon.",
    "The customer survey shows that most users want a simpler dashboard.",
    "Then we should prioritize the dashboard redesign over the new reports.",
    "Agreed. Let's review the progress again next Tuesday.",
    "Thank you all, that is everything for today.",
)


@dataclass(frozen=True)
class Clip:
    """Mono float32 PCM at 16 kHz and the text spoken in it."""

    audio: np.ndarray
    text: str

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


SPEECH_PROGRAMS = ("espeak-ng", "sox")  # what making speech runs (tests check for them)


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 160) -> np.ndarray:
    """Speak `text` and return float32 mono 16 kHz samples."""
    spoken = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    resampled = subprocess.run(
        ["sox", "-D", "-t", "wav", "-", "-t", "wav", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-"],
        input=spoken,
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(resampled)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0) * 0.8


def meeting(turns: int = len(MEETING_TURNS), pause_seconds: float = 0.8, offset: int = 0) -> Clip:
    """A conversation of `turns` turns by rotating voices, with silence between turns.

    `offset` rotates which turn starts, so concurrent benchmark streams do not speak in unison.
    """
    pieces: list[np.ndarray] = [np.zeros(int(0.3 * SAMPLE_RATE), np.float32)]
    texts: list[str] = []
    pause = np.zeros(int(pause_seconds * SAMPLE_RATE), np.float32)
    for i in range(turns):
        index = (i + offset) % len(MEETING_TURNS)
        voice, wpm = VOICES[index % len(VOICES)]
        pieces += [synthesize(MEETING_TURNS[index], voice, wpm), pause]
        texts.append(MEETING_TURNS[index])
    return Clip(np.concatenate(pieces), " ".join(texts))


def to_wav_bytes(audio: np.ndarray) -> bytes:
    """16-bit PCM WAV bytes of float32 samples (for file-transcription tests)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()
