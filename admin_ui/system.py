"""Machine health for the dashboard and the system page: CPU, memory, disk, GPU, logs, backup."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from appliance.backup import snapshot_database
from appliance.config import Settings
from appliance.gpu import Gpu, read_gpus
from appliance.log_files import read_tail

LOG_TAIL_BYTES = 16_000
# CPU load is measured between two calls: the first one here, so that the first page shown
# reports the load since start-up instead of 0 %.
psutil.cpu_percent(interval=None)


@dataclass(frozen=True)
class Machine:
    cpu_percent: float
    cpu_count: int
    memory_used: int
    memory_total: int
    memory_percent: float
    disk_used: int
    disk_total: int
    disk_percent: float
    gpus: list[Gpu]
    gpu_note: str | None


def machine(data_dir: Path) -> Machine:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(data_dir))
    found, note = read_gpus()
    return Machine(
        cpu_percent=psutil.cpu_percent(interval=None), cpu_count=psutil.cpu_count() or 1,
        memory_used=memory.total - memory.available, memory_total=memory.total,
        memory_percent=memory.percent, disk_used=disk.used, disk_total=disk.total,
        disk_percent=disk.percent, gpus=found, gpu_note=note,
    )


def log_names(logs_dir: Path) -> list[str]:
    return sorted(p.stem for p in logs_dir.glob("*.log") if p.is_file())


def log_tail(logs_dir: Path, name: str, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The end of data/logs/<name>.log, from its first whole line; '' for an unknown name."""
    if name not in log_names(logs_dir):
        return ""
    return read_tail(logs_dir / f"{name}.log", max_bytes)


def backup_database(database_path: Path, into_dir: Path) -> Path:
    """A consistent copy of the live database, made with SQLite's online backup API."""
    descriptor, name = tempfile.mkstemp(dir=into_dir, prefix="backup-", suffix=".db")
    os.close(descriptor)
    target = Path(name)
    snapshot_database(database_path, target)
    return target


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """Every setting with its value; secrets and paths of secret files are not shown."""
    shown = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if any(word in name for word in ("secret", "password", "key_file", "token")):
            value = "(hidden)" if value else value
        shown.append((name, "" if value is None else str(value)))
    return shown
