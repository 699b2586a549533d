"""The documentation states what the code does."""

from pathlib import Path

from appliance.config import settings_reference_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


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
