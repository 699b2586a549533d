"""A real notify socket: what systemd binds for a Type=notify service (sd_notify(3))."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.runtime.conftest import reaper  # noqa: F401 (fixture)


@dataclass
class Notification:
    at: float  # time.monotonic() when it arrived
    fields: dict[str, str]


@dataclass
class NotifySocket:
    """An AF_UNIX datagram socket collecting every notification sent to it."""

    address: str  # as NOTIFY_SOCKET spells it ('@name' for an abstract socket)
    sock: socket.socket
    received: list[Notification] = field(default_factory=list)
    _closed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            lines = data.decode().splitlines()
            self.received.append(Notification(time.monotonic(), dict(line.split("=", 1) for line in lines)))

    def with_field(self, name: str) -> list[Notification]:
        return [n for n in list(self.received) if name in n.fields]

    def statuses(self) -> list[str]:
        return [n.fields["STATUS"] for n in self.with_field("STATUS")]

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    listener = NotifySocket(str(path), sock)
    yield listener
    listener.close()
