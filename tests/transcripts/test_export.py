"""Transcript files: speech and names are text, never markup or structure (issue: `<` and `&` in
speech or names became WebVTT markup)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.transcripts.export import to_srt, to_txt, to_vtt


@dataclass
class Seg:
    start: float
    end: float
    text: str
    speaker: str | None


TRICKY = [
    Seg(0.0, 1.5, "Revenue went from <10 to >20 & more", "Ana <b>Lopez</b>"),
    Seg(1.5, 3.0, "it goes --> there\n\nnext line", "R&D"),
]


def cue_payloads(vtt: str) -> list[str]:
    blocks = vtt.split("\n\n")
    assert blocks[0].startswith("WEBVTT")
    return [block.split("\n")[1] for block in blocks[1:] if block.strip()]


def test_vtt_escapes_markup_in_speech_and_names() -> None:
    vtt = to_vtt(TRICKY)
    first, second = cue_payloads(vtt)
    assert first == "<v Ana &lt;b&gt;Lopez&lt;/b&gt;>Revenue went from &lt;10 to &gt;20 &amp; more"
    assert second == "<v R&amp;D>it goes --&gt; there next line"
    assert vtt.count("-->") == 2  # only the two timing lines


def test_a_blank_line_in_speech_does_not_end_a_cue() -> None:
    srt = to_srt(TRICKY)
    assert srt.split("\n\n")[1].splitlines()[2] == "R&D: it goes --> there next line"
    assert to_txt(TRICKY).splitlines()[1] == "[00:00:01] R&D: it goes --> there next line"
