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


_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7", QPalette.ColorRole.WindowText: "#1d2330",
    QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#eef0f4",
    QPalette.ColorRole.Text: "#1d2330", QPalette.ColorRole.Button: "#e8eaef",
    QPalette.ColorRole.ButtonText: "#1d2330", QPalette.ColorRole.Highlight: "#2f6fde",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#7a8294",
    QPalette.ColorRole.ToolTipBase: "#ffffff", QPalette.ColorRole.ToolTipText: "#1d2330",
    QPalette.ColorRole.Link: "#2359b8",
}
_DARK = {
    QPalette.ColorRole.Window: "#1b1f27", QPalette.ColorRole.WindowText: "#e3e6ec",
    QPalette.ColorRole.Base: "#12151b", QPalette.ColorRole.AlternateBase: "#232833",
    QPalette.ColorRole.Text: "#e3e6ec", QPalette.ColorRole.Button: "#2a303c",
    QPalette.ColorRole.ButtonText: "#e3e6ec", QPalette.ColorRole.Highlight: "#4f8cf0",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#8a92a3",
    QPalette.ColorRole.ToolTipBase: "#232833", QPalette.ColorRole.ToolTipText: "#e3e6ec",
    QPalette.ColorRole.Link: "#7fb0ff",
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
    for role, colour in (_DARK if resolve(theme) is Theme.DARK else _LIGHT).items():
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
