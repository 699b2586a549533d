"""`vomeet bot`: one meeting bot, composed. Its configuration is parsed (appliance.bot_config),
its parts are built and the session runs (bot.session: browser, join, admission, in-call watch,
reports), until a reported end. See docs/bot.md.

The parts, one job each: bot.platform (Meet, Teams: one registry, no fallback), bot.admission
and bot.leave_rules (what the page's cues mean), bot.commands (the appliance's stop and new
configuration), bot.audio_router with bot.asr_stream and bot.recording_stream (the audio),
bot.appliance_link (reports and commands over HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
from pathlib import Path

from pydantic import ValidationError

from appliance.bot_config import CONFIG_ENV, TOKEN_ENV, BotConfig, explain
from appliance.lifecycle import MeetingStatus
from appliance.logging_redact import configure_logging
from bot.appliance_link import ApplianceLink, ReportRefused
from bot.platform import UnknownPlatform
from bot.session import BotSession

log = logging.getLogger("vomeet.bot")
SLIM_ENV = "VOMEET_BOT_SLIM"
NODE_OPTIONS = "--max-semi-space-size=1 --max-old-space-size=128 --jitless"


def screenshots_dir(meeting_id: int) -> Path | None:
    """Beside the bot's log (its stdout), in `meeting-<id>-screens/`."""
    try:
        target = Path(os.readlink("/proc/self/fd/1"))
        if target.is_absolute() and stat.S_ISREG(target.stat().st_mode):
            return target.parent / f"meeting-{meeting_id}-screens"
    except OSError:
        pass
    return None


def run_bot(meeting_id: int) -> int:
    """Entered through `vomeet bot` (the CLI module, which imports the whole API stack: ~40 MB
    that a bot never uses). The bot replaces itself with `python -m bot`: same process id,
    start time, environment and log, so the runtime keeps its handle and exit status."""
    if not getattr(sys, "frozen", False) and os.environ.get(SLIM_ENV) != str(meeting_id):
        os.environ[SLIM_ENV] = str(meeting_id)
        sys.stdout.flush()
        sys.stderr.flush()
        with contextlib.suppress(OSError):  # no exec: carry on in this process
            os.execv(sys.executable, [sys.executable, "-m", "bot", "--meeting-id", str(meeting_id)])
    return _run_bot(meeting_id)


def bot_entry(argv: list[str]) -> int:
    """`python -m bot --meeting-id N`."""
    if len(argv) != 2 or argv[0] != "--meeting-id" or not argv[1].isdigit():
        print("usage: python -m bot --meeting-id N (started by the appliance's bot runtime)", file=sys.stderr)
        return 2
    os.environ[SLIM_ENV] = argv[1]
    return _run_bot(int(argv[1]))


def _run_bot(meeting_id: int) -> int:
    configure_logging("info")  # masks tokens in every line, as in every vomeet process
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per command poll otherwise
    try:
        token, document = os.environ[TOKEN_ENV], os.environ[CONFIG_ENV]
    except KeyError as exc:
        log.error("the bot is started by the appliance's runtime, not by hand (missing %s)", exc)
        return 2
    try:
        config = BotConfig.model_validate_json(document)
    except ValidationError as exc:
        log.error("%s is not a valid bot configuration: %s", CONFIG_ENV, explain(exc))
        return 2
    if config.meeting_id != meeting_id:
        log.error("--meeting-id %s does not match the configuration's meeting", meeting_id)
        return 2
    return asyncio.run(_main(config, token))


async def _main(config: BotConfig, token: str) -> int:
    # Playwright's driver (Node.js) inherits this: small young generation, bounded heap.
    os.environ.setdefault("NODE_OPTIONS", NODE_OPTIONS)
    link = ApplianceLink(config.appliance_url, token)
    try:
        bot = BotSession(config, link, token, shots_dir=screenshots_dir(config.meeting_id))
    except UnknownPlatform as exc:
        log.error("%s", exc)
        await link.report(MeetingStatus.FAILED, error_details=str(exc))
        await link.close()
        return 2
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bot.stop_event.set)
    try:
        return await bot.run()
    except ReportRefused as exc:
        log.warning("the appliance refused a report: %s", exc)
        return 1
    except ConnectionError as exc:
        log.error("%s", exc)
        return 1
    finally:
        await link.close()
