"""Log records to journald with structured fields (ROLE, MEETING_ID, LOGGER, CODE_*), over
journald's native protocol (a datagram of fields on /run/systemd/journal/socket).

Why not a library: `systemd-python` needs a C build, and the pure-Python `logging-journald`
handler (0.6.12) also sends the record's raw `msg`, its `args`, the unformatted traceback and
every extra attribute as fields of their own, outside the formatter, so a token in an argument
would reach the journal unmasked. Here every field, the message included, goes through
appliance.logging_redact.redact. The wire format (journal-native-protocol in systemd's docs): each
field is `NAME=value\\n`; a value with a newline is `NAME\\n` + its length as 64-bit
little-endian + the bytes + `\\n`; a datagram too large for the socket travels as a sealed memfd
passed with SCM_RIGHTS.
"""

from __future__ import annotations

import array
import errno
import fcntl
import logging
import os
import socket
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

from appliance.logging_redact import redact

SOCKET = Path("/run/systemd/journal/socket")
IDENTIFIER = "vomeet"
# syslog priorities (sd-daemon(3))
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def available() -> bool:
    """journald runs this process: systemd set JOURNAL_STREAM (kept by the children we start)
    and the journal's socket is there."""
    return bool(os.environ.get("JOURNAL_STREAM")) and SOCKET.exists()


def process_fields(argv: list[str] | None = None) -> dict[str, str]:
    """ROLE (serve, worker, asr, bot, ...) and, for a bot, MEETING_ID, read from the command line
    (`vomeet bot --meeting-id 7`, `python -m appliance serve`, `python -m bot --meeting-id 7`)."""
    args = sys.argv if argv is None else argv
    role = args[1] if len(args) > 1 and not args[1].startswith("-") else Path(args[0]).parent.name
    fields = {"ROLE": role or "vomeet"}
    if "--meeting-id" in args[:-1]:
        fields["MEETING_ID"] = args[args.index("--meeting-id") + 1]
    return fields


def encode(fields: Mapping[str, object]) -> bytes:
    out = bytearray()
    for name, value in fields.items():
        data = str(value).encode("utf-8", errors="replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


def _send_memfd(sock: socket.socket, data: bytes, address: str) -> None:
    fd = os.memfd_create("vomeet-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.write(fd, data)
        seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        sock.sendmsg([b""], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))], 0, address)
    finally:
        os.close(fd)


class JournalHandler(logging.Handler):
    """A logging handler that writes each record to the journal as one entry.

    `fields` are added to every entry (the process's ROLE and MEETING_ID); a record's own
    `meeting_id` attribute (`log.info(..., extra={"meeting_id": 7})`) overrides MEETING_ID."""

    def __init__(self, fields: Mapping[str, str], socket_path: Path | None = None) -> None:
        super().__init__()
        self.fields = {"SYSLOG_IDENTIFIER": IDENTIFIER, **fields}
        self.socket_path = str(socket_path or SOCKET)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # The message only: journald stamps time, pid and unit itself.
        self.setFormatter(logging.Formatter("%(message)s"))

    def entry(self, record: logging.LogRecord) -> dict[str, object]:
        fields: dict[str, object] = {
            "MESSAGE": redact(self.format(record)),
            "PRIORITY": _PRIORITY.get(record.levelno, 6),
            **self.fields,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": record.lineno,
            "CODE_FUNC": record.funcName,
            "THREAD_NAME": record.threadName or "",
        }
        meeting_id = getattr(record, "meeting_id", None)
        if meeting_id is not None:
            fields["MEETING_ID"] = meeting_id
        return {name: redact(str(value)) for name, value in fields.items()}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = encode(self.entry(record))
            try:
                self._socket.sendto(data, self.socket_path)
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:  # too large for one datagram
                    raise
                _send_memfd(self._socket, data, self.socket_path)
        except Exception:
            self.handleError(record)  # logging's own fallback: a line on standard error

    def close(self) -> None:
        self._socket.close()
        super().close()
