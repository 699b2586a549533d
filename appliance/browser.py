"""Finding the Chromium that bots drive (Debian's package by default)."""

from __future__ import annotations

import shutil
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(configured: Path | None = None) -> Path | None:
    if configured is not None:
        return configured if configured.is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None
