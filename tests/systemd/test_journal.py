"""Logs to journald with structured fields, over the native protocol. journald itself cannot
run here (no systemd as PID 1), so these tests bind the journal's socket themselves (a real
AF_UNIX datagram socket) and parse what arrives as journald does (journal-native-protocol)."""

from __future__ import annotations

import array
import logging
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import journal
from appliance.logging_redact import configure_logging

TOKEN = "vmt_" + "S3cr3tS3cr3tS3cr3t"
BOT_TOKEN = "vmb_" + "B0tB0tB0tB0tB0t"


def parse(data: bytes) -> dict[str, str]:
    """journald's reading of one entry: `NAME=value\\n`, or `NAME\\n` + le64 size + bytes + `\\n`."""
    fields: dict[str, str] = {}
    while data:
        line_end = data.index(b"\n")
        line = data[:line_end]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            data = data[line_end + 1:]
        else:
            (size,) = struct.unpack("<Q", data[line_end + 1:line_end + 9])
            name, value = line, data[line_end + 9:line_end + 9 + size]
            assert data[line_end + 9 + size:line_end + 10 + size] == b"\n"
            data = data[line_end + 10 + size:]
        fields[name.decode()] = value.decode()
    return fields


class JournalSocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(5)

    def receive(self) -> tuple[bytes, dict[str, str]]:
        """One entry, read from the datagram or, for a large one, from the memfd it carries."""
        fds = array.array("i")
        data, ancillary, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if fds:
            with os.fdopen(fds[0], "rb") as memfd:
                memfd.seek(0)  # the sender's offset is shared; journald reads it whole (mmap)
                data = memfd.read()
        return data, parse(data)


@pytest.fixture
def journal_socket(tmp_path: Path) -> Iterator[JournalSocket]:
    listener = JournalSocket(tmp_path / "journal.sock")
    yield listener
    listener.sock.close()


@pytest.fixture
def logger(journal_socket: JournalSocket) -> Iterator[logging.Logger]:
    handler = journal.JournalHandler({"ROLE": "bot", "MEETING_ID": "7"}, socket_path=journal_socket.path)
    log = logging.getLogger("vomeet.test.journal")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    log.removeHandler(handler)
    handler.close()


def test_entry_carries_role_meeting_and_masks_secrets(journal_socket: JournalSocket, logger: logging.Logger) -> None:
    logger.warning("joined with %s at /ws?api_key=%s", BOT_TOKEN, TOKEN)
    raw, entry = journal_socket.receive()
    assert entry["MESSAGE"] == "joined with vmb_[redacted] at /ws?api_key=[redacted]"
    assert (entry["PRIORITY"], entry["ROLE"], entry["MEETING_ID"]) == ("4", "bot", "7")
    assert entry["SYSLOG_IDENTIFIER"] == "vomeet" and entry["LOGGER"] == "vomeet.test.journal"
    assert entry["CODE_FILE"] == __file__ and entry["CODE_FUNC"] == "test_entry_carries_role_meeting_and_masks_secrets"
    assert TOKEN.encode() not in raw and BOT_TOKEN.encode() not in raw


def test_traceback_is_one_binary_field_and_masked(journal_socket: JournalSocket, logger: logging.Logger) -> None:
    try:
        raise RuntimeError(f"refused Authorization: Bearer {TOKEN}")
    except RuntimeError:
        logger.exception("meeting failed", extra={"meeting_id": 12})
    raw, entry = journal_socket.receive()
    assert entry["MESSAGE"].startswith("meeting failed\nTraceback (most recent call last):")
    assert "Authorization: Bearer [redacted]" in entry["MESSAGE"]
    assert entry["PRIORITY"] == "3" and entry["MEETING_ID"] == "12"  # the record's own meeting wins
    assert TOKEN.encode() not in raw


def test_entry_larger_than_a_datagram_travels_as_a_memfd(journal_socket: JournalSocket, logger: logging.Logger) -> None:
    big = "x" * 400_000  # over the socket's default send buffer (212992 bytes here)
    logger.info("dump %s %s", big, TOKEN)
    _, entry = journal_socket.receive()
    assert entry["MESSAGE"] == f"dump {big} vmt_[redacted]"


def test_process_fields_from_the_command_line() -> None:
    assert journal.process_fields(["/opt/vomeet/current/vomeet", "serve"]) == {"ROLE": "serve"}
    assert journal.process_fields(["/x/appliance/__main__.py", "bot", "--meeting-id", "7"]) == {
        "ROLE": "bot", "MEETING_ID": "7"}
    assert journal.process_fields(["/x/bot/__main__.py", "--meeting-id", "9"]) == {"ROLE": "bot", "MEETING_ID": "9"}


def test_configure_logging_uses_the_journal_only_when_it_is_there(
    journal_socket: JournalSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setattr(journal, "SOCKET", journal_socket.path)
    monkeypatch.setattr("sys.argv", ["vomeet", "worker"])
    try:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        configure_logging("info")
        assert [type(h) for h in root.handlers] == [logging.StreamHandler]
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
        configure_logging("info")
        assert [type(h) for h in root.handlers] == [journal.JournalHandler]
        logging.getLogger("appliance.tasks").info("delivered with %s", TOKEN)
        _, entry = journal_socket.receive()
        assert entry["ROLE"] == "worker" and entry["MESSAGE"] == "delivered with vmt_[redacted]"
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
