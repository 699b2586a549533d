"""systemd's service notification protocol (sd_notify(3)): READY, WATCHDOG, STATUS, STOPPING,
RELOADING, sent as one datagram of `KEY=value` lines to the AF_UNIX socket in $NOTIFY_SOCKET
(a path, or an abstract name written with a leading '@').

Written here rather than taken from PyPI: the protocol is one `sendto`, and the pure-Python
client there (`sdnotify`, last released in 2017) swallows every send error, which would hide a
broken notify socket that systemd then reports only as a start timeout. Without $NOTIFY_SOCKET
(not under systemd, or `Type=simple`) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)
# What systemd hands a notify service; children must not inherit it (NotifyAccess=main would
# ignore them anyway, and a stray READY from a child would be a lie).
ENVIRONMENT = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _address(value: str) -> str:
    return "\0" + value[1:] if value.startswith("@") else value


class Notifier:
    """One process's channel to systemd. `from_environment` takes the variables out of
    os.environ so that the processes this one starts do not see them."""

    def __init__(self, socket_path: str | None, watchdog_usec: int | None = None) -> None:
        self.socket_path = socket_path
        self.watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        if socket_path:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environment(cls) -> Notifier:
        values = {name: os.environ.pop(name, None) for name in ENVIRONMENT}
        usec: int | None = None
        pid = values["WATCHDOG_PID"]
        if values["WATCHDOG_USEC"] and (not pid or pid == str(os.getpid())):
            try:
                usec = int(values["WATCHDOG_USEC"] or 0) or None
            except ValueError:
                usec = None
        return cls(values["NOTIFY_SOCKET"], usec)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1: half the timeout, as sd_watchdog_enabled(3) advises."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2e6

    def send(self, **fields: str | int) -> bool:
        """Send one notification (`send(READY=1, STATUS="...")`); False when it could not go."""
        if self._socket is None or self.socket_path is None:
            return False
        # A value is one line: a newline would start a field the caller never meant to send.
        text = "".join(f"{key}={str(value).replace(chr(10), ' ')}\n" for key, value in fields.items())
        try:
            self._socket.sendto(text.encode("utf-8"), _address(self.socket_path))
        except OSError as exc:
            log.warning("could not notify systemd at %s: %s", self.socket_path, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY=1, STATUS=status)

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def stopping(self, status: str) -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def reloading(self, status: str) -> bool:
        # MONOTONIC_USEC lets systemd (>= 253) match this RELOADING=1 to the reload it ordered.
        return self.send(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000, STATUS=status)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
