"""CTranslate2: its native library and the OpenMP/oneDNN libraries auditwheel put beside it."""

from PyInstaller.utils.hooks import collect_dynamic_libs, collect_submodules

hiddenimports = collect_submodules("ctranslate2")
binaries = collect_dynamic_libs("ctranslate2")
