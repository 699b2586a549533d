"""NVIDIA GPU telemetry through NVML (nvidia-ml-py), for the console and /metrics.

Degrades to nothing: without the library, without a driver, or when a GPU cannot be read, the
answer is no GPUs and a note saying why; nothing raises. A figure one GPU does not report (many
do not report temperature) is None, and the others are still shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    utilization_percent: int
    memory_used: int  # bytes
    memory_total: int  # bytes
    temperature_c: int | None


def read_gpus() -> tuple[list[Gpu], str | None]:
    """The NVIDIA GPUs, or none and why there are none to show."""
    try:
        import pynvml
    except ImportError:
        return [], "no GPU (NVML library not installed)"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:  # no driver: the library is there, the GPU is not
        return [], "no GPU"
    try:
        found = [_read(pynvml, index) for index in range(pynvml.nvmlDeviceGetCount())]
        return found, None if found else "no GPU"
    except pynvml.NVMLError as exc:
        return [], f"GPU not readable ({exc})"
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _read(pynvml: Any, index: int) -> Gpu:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(handle)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
    temperature = _optional(pynvml, lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
    return Gpu(
        index, name if isinstance(name, str) else name.decode(), int(utilization.gpu),
        int(memory.used), int(memory.total), None if temperature is None else int(temperature),
    )


def _optional(pynvml: Any, read: Callable[[], T]) -> T | None:
    """A figure this GPU may not support: None instead of failing the whole reading."""
    try:
        return read()
    except pynvml.NVMLError:
        return None
