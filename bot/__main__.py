"""`python -m bot --meeting-id N`: the bot without the CLI's imports (see run_bot)."""

from __future__ import annotations

import sys

# httpx imports its command-line tool (click, rich, pygments: ~6 MB, 90 modules) when those are
# installed, and falls back to a stub when the import fails; a None entry makes it fail.
# (typeshed's sys.modules holds only modules; None is the import system's "fail this import".)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from bot.main import bot_entry  # noqa: E402 (must come after the entry above)

if __name__ == "__main__":
    sys.exit(bot_entry(sys.argv[1:]))
