"""Reading the end of a log file, for a bot's exit report and the console's log page."""

from __future__ import annotations

import os
from pathlib import Path


def read_tail(path: Path, limit: int) -> str:
    """The last `limit` bytes of a log, from its first whole line when cut; '' if it cannot be read."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    if size > limit and "\n" in text:
        text = text.split("\n", 1)[1]
    return text
