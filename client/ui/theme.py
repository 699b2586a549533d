"""Light and dark: the Fusion style with a palette of each, following the system's colour
scheme unless the user picked one (`Theme.LIGHT` / `Theme.DARK` in the settings)."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


class Theme(str, Enum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


_R = QPalette.ColorRole
_ROLES = (_R.Window, _R.WindowText, _R.Base, _R.AlternateBase, _R.Text, _R.Button, _R.ButtonText, _R.Highlight,
          _R.HighlightedText, _R.PlaceholderText, _R.ToolTipBase, _R.ToolTipText, _R.Link)
# One colour per role of _ROLES, in that order.
_COLOURS = {
    Theme.LIGHT: ("#f4f5f7", "#1d2330", "#ffffff", "#eef0f4", "#1d2330", "#e8eaef", "#1d2330", "#2f6fde",
                  "#ffffff", "#7a8294", "#ffffff", "#1d2330", "#2359b8"),
    Theme.DARK: ("#1b1f27", "#e3e6ec", "#12151b", "#232833", "#e3e6ec", "#2a303c", "#e3e6ec", "#4f8cf0",
                 "#ffffff", "#8a92a3", "#232833", "#e3e6ec", "#7fb0ff"),
}


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def resolve(theme: Theme) -> Theme:
    """The theme actually shown: SYSTEM becomes LIGHT or DARK."""
    if theme is Theme.SYSTEM:
        return Theme.DARK if system_is_dark() else Theme.LIGHT
    return theme


def palette_of(theme: Theme) -> QPalette:
    palette = QPalette()
    for role, colour in zip(_ROLES, _COLOURS[resolve(theme)], strict=True):
        palette.setColor(role, QColor(colour))
    disabled = QColor("#6b7282")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply(app: QApplication, theme: Theme) -> Theme:
    """Style the whole application; returns the theme shown (LIGHT or DARK)."""
    app.setStyle("Fusion")
    app.setPalette(palette_of(theme))
    shown = resolve(theme)
    app.setProperty("vomeetTheme", shown.value)
    return shown


def is_dark(app: QApplication) -> bool:
    return bool(app.property("vomeetTheme") == Theme.DARK.value)


def muted_colour(app: QApplication) -> str:
    """For partial transcript text and secondary labels: readable in both themes, clearly apart."""
    return "#8a92a3" if is_dark(app) else "#6b7282"
