"""Finding the Chromium that bots drive (Debian's package by default)."""

from __future__ import annotations

import shutil
from pathlib import Path

# Debian's `chromium-headless-shell`: the headless-only build, about 100 MB PSS and one process
# lighter per bot than full Chromium (docs/measurements/bot.md, Footprint). Its /usr/bin entry is a shell
# script that runs the binary without exec, which would leave an `sh` parent between Playwright
# and the browser, so the binary itself is used.
HEADLESS_SHELLS = (Path("/usr/lib/chromium/chromium-headless-shell"),)
CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(configured: Path | None = None) -> Path | None:
    if configured is not None:
        return configured if configured.is_file() else None
    for path in HEADLESS_SHELLS:
        if path.is_file():
            return path
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None
