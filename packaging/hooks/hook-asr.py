"""asr: the `vomeet asr` role, imported lazily by its click command."""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("asr")
