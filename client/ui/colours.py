"""Stable speaker colours: one speaker name gets the same colour in every view and every run
(a hash of the name, not the order speakers appear in), from a set readable on light and dark."""

from __future__ import annotations

import zlib

# Pairs of (on light, on dark): same hue, a darker and a lighter shade.
_COLOURS = (
    ("#1f6fb2", "#6cb4f5"), ("#b2411f", "#f5936c"), ("#2e8540", "#7ad18b"), ("#8e3fb0", "#cf93ec"),
    ("#a1670b", "#f2bd5e"), ("#0f7f7f", "#5fd3d3"), ("#b0306a", "#f283b5"), ("#4a5bb8", "#9aa8f5"),
)


def speaker_colour(speaker: str | None, dark: bool) -> str:
    if not speaker:
        return "#7a8294"
    light_shade, dark_shade = _COLOURS[zlib.crc32(speaker.encode("utf-8")) % len(_COLOURS)]
    return dark_shade if dark else light_shade
