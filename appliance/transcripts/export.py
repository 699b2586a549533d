"""Transcript renderings: plain text, SubRip, WebVTT (JSON is the API's own model)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SegmentLike(Protocol):
    start: float
    end: float
    text: str
    speaker: str | None


def _clock(seconds: float, decimal: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _one_line(text: str) -> str:
    # A blank line ends a cue (SRT and WebVTT alike): speech and names stay on one line.
    return " ".join(text.split())


def _line(segment: SegmentLike) -> str:
    text = _one_line(segment.text)
    return f"{_one_line(segment.speaker)}: {text}" if segment.speaker else text


def _vtt_escape(text: str) -> str:
    """WebVTT cue text is markup: `&`, `<` and `>` are written as character references (which
    also keeps a spoken '-->' from reading as a timing line)."""
    return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_txt(segments: Sequence[SegmentLike]) -> str:
    lines = [f"[{_clock(s.start, '.')[:8]}] {_line(s)}" for s in segments if s.text.strip()]
    return "\n".join(lines) + ("\n" if lines else "")


def to_srt(segments: Sequence[SegmentLike]) -> str:
    blocks = []
    for number, s in enumerate((s for s in segments if s.text.strip()), start=1):
        blocks.append(f"{number}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_line(s)}\n")
    return "\n".join(blocks)


def to_vtt(segments: Sequence[SegmentLike]) -> str:
    blocks = ["WEBVTT\n"]
    for s in segments:
        if not s.text.strip():
            continue
        voice = f"<v {_vtt_escape(s.speaker)}>" if s.speaker else ""
        blocks.append(f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{voice}{_vtt_escape(s.text)}\n")
    return "\n".join(blocks)


RENDERERS = {"txt": (to_txt, "text/plain"), "srt": (to_srt, "application/x-subrip"), "vtt": (to_vtt, "text/vtt")}
