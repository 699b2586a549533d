"""`python -m bot --meeting-id N`: the bot without the CLI's imports (see run_bot)."""

from __future__ import annotations

import sys

from bot.main import bot_entry

if __name__ == "__main__":
    sys.exit(bot_entry(sys.argv[1:]))
