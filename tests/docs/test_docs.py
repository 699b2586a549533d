"""The documentation states what the code does."""

import re
from pathlib import Path

import click
import pytest

from appliance.config import settings_reference_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"
README = DOCS.parent / "README.md"


def test_configuration_reference_matches_the_settings_model() -> None:
    documented = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert settings_reference_markdown() in documented, (
        "docs/configuration.md is out of date: regenerate its table with `vomeet settings --reference`"
    )


def test_the_webhook_events_documented_are_the_ones_the_code_sends() -> None:
    import re

    from appliance.outbox import EventType

    text = (DOCS / "webhooks.md").read_text(encoding="utf-8")
    table = text[text.index("| event |"):text.index("\n\n", text.index("| event |"))]
    documented = re.findall(r"^\| `([a-z_.]+)` \|", table, flags=re.MULTILINE)
    assert sorted(documented) == sorted(e.value for e in EventType), (
        f"docs/webhooks.md lists {documented}; the code sends {[e.value for e in EventType]}"
    )


def _cli_commands() -> dict[str, click.Command]:
    """Every command a user can type, by its path (`serve`, `admin create-user`), read from the
    registry: `appliance.cli.main` once the optional packages (asr, the console) have added
    theirs, so a command registered anywhere is checked."""
    from appliance.cli import main

    found: dict[str, click.Command] = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, f"{prefix}{name} ")
            elif not command.hidden:
                found[prefix + name] = command

    walk(main, "")
    return found


def _documented_commands() -> dict[str, set[str]]:
    """The README's command table, as command path -> the options its usage shows. A row's first
    cell names one command (`vomeet migrate [--down --revision R]`) or several of one group
    (`vomeet admin create-user EMAIL`, `create-token EMAIL`, ...: the later ones without the
    prefix)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("| command |")
    rows = text[start:text.index("\n\n", start)].splitlines()[2:]
    documented: dict[str, set[str]] = {}
    for row in rows:
        group: list[str] = []
        for usage in re.findall(r"`([^`]+)`", row.split("|")[1]):
            words = usage.split()
            names = []
            for word in words[1:] if words[0] == "vomeet" else words:
                if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                    break  # an argument (EMAIL), an option or [optional part]: the path ends
                names.append(word)
            if words[0] == "vomeet":
                group = names[:-1]
                path = names
            else:
                path = group + names
            documented[" ".join(path)] = set(re.findall(r"--[a-z][a-z-]*", usage))
    return documented


def test_every_command_is_in_the_readme_table_and_every_row_is_a_command() -> None:
    commands, documented = _cli_commands(), _documented_commands()
    assert sorted(set(commands) - set(documented)) == [], (
        "README.md's command table lacks these `vomeet` commands: add a row for each"
    )
    assert sorted(set(documented) - set(commands)) == [], (
        "README.md's command table lists commands that `vomeet` does not have"
    )


def test_the_options_the_readme_shows_exist() -> None:
    commands = _cli_commands()
    for path, options in _documented_commands().items():
        if path not in commands:
            continue  # reported by the test above
        known = {opt for param in commands[path].params for opt in param.opts}
        assert options <= known, f"`vomeet {path}`: README.md shows {sorted(options - known)}, unknown to it"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_links_between_the_docs_lead_somewhere() -> None:
    pages = [README, *sorted(DOCS.rglob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # http:, mailto: ...: not ours to check
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(README.parent)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(README.parent)}: {target} (no such heading)")
    assert broken == [], "broken links:\n" + "\n".join(broken)


# A path of the tree as the docs write it: `appliance/api/ws.py`, tests/e2e/, admin_ui/routes/*.py.
TREE_PATH = re.compile(
    r"(?<![\w./<-])((?:appliance|asr|bot|admin_ui|client|tests|benchmarks|packaging|systemd|k3s_manifests|docs)"
    r"/[\w/.\-*]*[\w*/])"
)


def test_the_files_the_docs_name_exist() -> None:
    """Modules move (issue 13); a page that still names the old file sends a newcomer nowhere."""
    root = README.parent
    missing = [
        f"{page.relative_to(root)}: {path}"
        for page in [README, *sorted(DOCS.rglob("*.md"))]
        for path in {m.split("::")[0] for m in TREE_PATH.findall(page.read_text(encoding="utf-8"))}
        if not any(root.glob(path.rstrip("/")))
    ]
    assert missing == [], "the docs name files that do not exist:\n" + "\n".join(sorted(missing))


# The parts whose page has a table of every module: a module added there gets its row.
MODULE_TABLES = {
    "appliance": "architecture.md", "appliance/api": "api.md", "admin_ui": "console.md",
    "asr": "asr.md", "bot": "bot.md",
}


@pytest.mark.parametrize("package", sorted(MODULE_TABLES))
def test_every_module_of_a_part_is_in_its_page(package: str) -> None:
    root = README.parent
    page = (DOCS / MODULE_TABLES[package]).read_text(encoding="utf-8")
    modules = [p for p in sorted((root / package).iterdir()) if p.suffix in (".py", ".js")
               and p.name not in ("__init__.py", "__main__.py")]
    missing = [m.name for m in modules
               if f"`{m.relative_to(root)}`" not in page and f"`{m.name}`" not in page]
    assert missing == [], f"docs/{MODULE_TABLES[package]} does not name these modules of {package}/: {missing}"
