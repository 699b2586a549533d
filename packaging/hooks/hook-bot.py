"""bot: the `vomeet bot` role (imported inside its command) and its in-page scripts (*.js)."""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules("bot")
datas = collect_data_files("bot")
