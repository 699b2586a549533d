"""huey: the consumer's storage and contrib modules, picked by name from settings."""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("huey", filter=lambda name: "djhuey" not in name and "flask" not in name)
