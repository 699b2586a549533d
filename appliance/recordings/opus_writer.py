"""Encodes 16 kHz mono float32 PCM into an Ogg/Opus file as it arrives (PyAV's libopus).

Ogg is written page by page, so a file cut short by a crash still plays up to its last page.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000
BITRATE = 24_000  # speech at 24 kb/s: about 10.8 MB an hour


class OpusWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._container = av.open(str(path), mode="w", format="ogg")
        self._stream = self._container.add_stream("libopus", rate=SAMPLE_RATE)
        self._stream.bit_rate = BITRATE
        self._stream.layout = "mono"
        self._samples_written = 0

    @property
    def duration_s(self) -> float:
        return self._samples_written / SAMPLE_RATE

    def write(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.clip(samples, -1.0, 1.0).astype(np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples_written
        frame.time_base = Fraction(1, SAMPLE_RATE)
        self._samples_written += samples.size
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
