"""GPU telemetry degrades to nothing: no driver, a GPU that stops answering mid-read, or a figure
one GPU does not report never fail the console or /metrics."""

from __future__ import annotations

from types import SimpleNamespace

import pynvml
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from appliance.api.routes import metrics
from appliance.gpu import read_gpus


def rendered(families: list) -> str:
    registry = CollectorRegistry()
    registry.register(metrics._Snapshot(families))
    return generate_latest(registry).decode()


def gpu_samples() -> dict[str, float]:
    """`/metrics`' GPU samples as a scraper parses them, by name with the GPU's labels."""
    return {
        f"{s.name}{{gpu={s.labels['gpu']},name={s.labels['name']}}}": s.value
        for family in text_string_to_metric_families(rendered(metrics.gpu_families()))
        for s in family.samples
    }


def test_this_machine_reads_without_raising() -> None:
    """Here NVML's library or driver is missing (or, on a GPU box, every GPU is read)."""
    found, note = read_gpus()
    if found:
        assert note is None
        for gpu in found:
            assert 0 <= gpu.utilization_percent <= 100
            assert 0 < gpu.memory_total and 0 <= gpu.memory_used <= gpu.memory_total
            assert gpu.name
    else:
        assert note and note.startswith("no GPU")
    assert len(gpu_samples()) >= 3 * len(found)  # temperature may be unreported
    assert bool(gpu_samples()) == bool(found)


def test_no_driver_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_driver() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    assert read_gpus() == ([], "no GPU")
    assert "# TYPE vomeet_gpu_utilization_percent gauge" in rendered(metrics.gpu_families())  # described ...
    assert gpu_samples() == {}  # ... with no samples


class FakeGpuBoard:
    """NVML's functions for one GPU, as pynvml exposes them, with failures chosen by the test."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.shut_down = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        answers = {
            "nvmlInit": lambda: None,
            "nvmlShutdown": lambda: setattr(self, "shut_down", True),
            "nvmlDeviceGetCount": lambda: 1,
            "nvmlDeviceGetHandleByIndex": lambda index: ("handle", index),
            "nvmlDeviceGetName": lambda handle: b"NVIDIA L4",
            "nvmlDeviceGetMemoryInfo": lambda handle: SimpleNamespace(used=2 * 2**30, total=24 * 2**30),
            "nvmlDeviceGetUtilizationRates": lambda handle: SimpleNamespace(gpu=37, memory=5),
            "nvmlDeviceGetTemperature": lambda handle, sensor: 61,
        }
        for name, answer in answers.items():
            monkeypatch.setattr(pynvml, name, self._failing(name) if name in self.failing else answer)

    def _failing(self, name: str):
        def fail(*_args: object) -> None:
            raise pynvml.NVMLError(
                pynvml.NVML_ERROR_NOT_SUPPORTED if "Temperature" in name else pynvml.NVML_ERROR_GPU_IS_LOST
            )

        return fail


def test_a_gpu_is_read_with_every_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    board = FakeGpuBoard(set())
    board.install(monkeypatch)
    found, note = read_gpus()
    assert note is None and board.shut_down
    assert [(g.index, g.name, g.utilization_percent, g.memory_used, g.temperature_c) for g in found] == [
        (0, "NVIDIA L4", 37, 2 * 2**30, 61)
    ]
    assert gpu_samples() == {
        "vomeet_gpu_utilization_percent{gpu=0,name=NVIDIA L4}": 37,
        "vomeet_gpu_memory_used_bytes{gpu=0,name=NVIDIA L4}": 2 * 2**30,
        "vomeet_gpu_memory_total_bytes{gpu=0,name=NVIDIA L4}": 24 * 2**30,
        "vomeet_gpu_temperature_celsius{gpu=0,name=NVIDIA L4}": 61,
    }


def test_a_figure_the_gpu_does_not_report_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeGpuBoard({"nvmlDeviceGetTemperature"}).install(monkeypatch)
    found, note = read_gpus()
    assert note is None and found[0].temperature_c is None and found[0].utilization_percent == 37
    assert set(gpu_samples()) == {
        "vomeet_gpu_utilization_percent{gpu=0,name=NVIDIA L4}",
        "vomeet_gpu_memory_used_bytes{gpu=0,name=NVIDIA L4}",
        "vomeet_gpu_memory_total_bytes{gpu=0,name=NVIDIA L4}",
    }


def test_a_gpu_lost_mid_read_gives_a_note_and_shuts_nvml_down(monkeypatch: pytest.MonkeyPatch) -> None:
    board = FakeGpuBoard({"nvmlDeviceGetUtilizationRates"})
    board.install(monkeypatch)
    found, note = read_gpus()
    assert found == [] and note is not None and note.startswith("GPU not readable")
    assert board.shut_down
    assert gpu_samples() == {}
