"""The documentation states what the code does."""

from pathlib import Path

from appliance.config import settings_reference_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_matches_the_settings_model() -> None:
    documented = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert settings_reference_markdown() in documented, (
        "docs/configuration.md is out of date: regenerate its table with `vomeet settings --reference`"
    )
