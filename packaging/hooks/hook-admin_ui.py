"""admin_ui: the web console, found by the CLI's optional import; templates and static files."""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules("admin_ui")
datas = collect_data_files("admin_ui")
