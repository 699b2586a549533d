"""How to start another role of this same program (works from source and from the bundle)."""

from __future__ import annotations

import sys


def self_command() -> list[str]:
    """argv prefix that runs `vomeet` with the current interpreter or frozen bundle."""
    if getattr(sys, "frozen", False):  # PyInstaller bundle: the executable is vomeet itself
        return [sys.executable]
    return [sys.executable, "-m", "appliance"]
