"""CTranslate2: its native library and the OpenMP/oneDNN libraries auditwheel put beside it. Its
model converters (which want transformers, fairseq...) are left out: the box loads converted models."""

from PyInstaller.utils.hooks import collect_dynamic_libs, collect_submodules

hiddenimports = collect_submodules("ctranslate2", filter=lambda name: not name.startswith("ctranslate2.converters"))
binaries = collect_dynamic_libs("ctranslate2")
