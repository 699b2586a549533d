"""The layers inside appliance/ run one way: the domain raises domain errors (appliance/errors.py)
that api/errors.py alone maps to status codes, and the core does not import the console."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.api.errors import as_api_error
from appliance.errors import Conflict, DomainError, Invalid, NotFound, OverLimit, Unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("error", "status"),
    [(NotFound("n"), 404), (Conflict("c"), 409), (Invalid("i"), 422), (OverLimit("o"), 429)],
)
def test_domain_errors_map_to_their_status(error: DomainError, status: int) -> None:
    answer = as_api_error(error)
    assert (answer.status_code, answer.detail, answer.headers) == (status, error.detail, None)


def test_unavailable_is_a_503_with_retry_after() -> None:
    answer = as_api_error(Unavailable("the box is full", 30))
    assert (answer.status_code, answer.detail, answer.headers) == (503, "the box is full", {"Retry-After": "30"})


def _python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


COMPOSITION_ROOT = ROOT / "appliance" / "cli.py"


def _lines_matching(pattern: str, *folders: str, outside: Path | None = None) -> list[str]:
    """`file:line: text` for every line of the folders' Python files (but `outside`) that matches."""
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _python_files(*folders)
        if path != outside
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if re.search(pattern, line)
    ]


def test_domain_packages_speak_no_http() -> None:
    speaking = _lines_matching(r"\bApiError\b|HTTPException|from appliance\.api\.errors",
                               "appliance/meetings", "appliance/live", "appliance/recordings")
    assert speaking == []


def test_core_does_not_import_the_console() -> None:
    importing = _lines_matching(r"^\s*(from|import) admin_ui\b", "appliance", outside=COMPOSITION_ROOT)
    assert importing == []


def test_asr_imports_nothing_of_the_appliance() -> None:
    # `vomeet asr` is wired to the appliance by the composition root (appliance/cli.py), which
    # hands it a sink factory; asr/ itself stays usable without the appliance installed.
    importing = _lines_matching(r"^\s*(from|import) appliance\b", "asr")
    assert importing == []


def test_the_bot_config_is_a_leaf_the_bot_imports_without_the_appliance() -> None:
    """appliance/bot_config.py is shared by both sides: it imports no appliance module, and the
    bot, which imports it, loads none of the appliance's API, database, settings or domain."""
    leaf = (ROOT / "appliance" / "bot_config.py").read_text("utf-8")
    assert re.findall(r"^\s*(?:from|import) (appliance\S*|bot\S*)", leaf, re.MULTILINE) == []
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.main; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    assert "appliance.bot_config" in loaded
    heavy = ("appliance.api", "appliance.db", "appliance.config", "appliance.meetings", "sqlalchemy", "starlette")
    assert [name for name in loaded if name.startswith(heavy)] == []


def test_the_bots_decisions_load_no_browser_or_network() -> None:
    """What a look at the meeting page means (the platforms' admission tests, the admission, the
    leave rules) is plain code: importing it loads neither Playwright nor a network client."""
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, bot.admission, bot.leave_rules, bot.platform; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    assert {"bot.admission", "bot.leave_rules", "bot.google_meet", "bot.teams"} <= set(loaded)
    assert [name for name in loaded if name.startswith(("playwright", "websockets", "httpx"))] == []


def test_domain_packages_import_nothing_of_the_api() -> None:
    # The API builds the domain's own inputs (BotRequest.order() is a meetings.orders.BotOrder);
    # the domain never reaches up for a wire model or an endpoint helper.
    importing = _lines_matching(r"^\s*(from|import) appliance\.api\b", "appliance/meetings", "appliance/live",
                                "appliance/recordings", "appliance/webhooks", "appliance/transcripts")
    assert importing == []


def test_core_imports_the_bot_only_in_the_composition_root() -> None:
    # The one binary's role dispatch (vomeet bot, selftest's browser check) lives in appliance/cli.py;
    # the rest of the core talks to bots through the runtime and the API only.
    importing = _lines_matching(r"^\s*(from|import) bot\b", "appliance", outside=COMPOSITION_ROOT)
    assert importing == []
