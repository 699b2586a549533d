"""The window's own preferences (today: the theme), in `ui.json` beside the client's other
settings (`client.store`'s folder). Nothing secret is kept here."""

from __future__ import annotations

import json
from pathlib import Path

from client.ui.theme import Theme


class Preferences:
    def __init__(self, config_dir: Path) -> None:
        self.path = config_dir / "ui.json"

    def theme(self) -> Theme:
        try:
            return Theme(json.loads(self.path.read_text("utf-8")).get("theme", Theme.SYSTEM.value))
        except (OSError, ValueError, AttributeError):
            return Theme.SYSTEM

    def set_theme(self, theme: Theme) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"theme": theme.value}), encoding="utf-8")
        partial.replace(self.path)
