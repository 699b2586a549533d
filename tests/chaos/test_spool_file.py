"""The ASR sink's spool file on its own: what it keeps across a kill -9, and what it scrubs."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from asr.spool import SegmentSpool, StreamKey, read_ledger, text_digest
from tests.conftest import REPO

STREAM = StreamKey(uid="bot-7-c1-1-1700000000", started_at=1.7e9, speaker="Dana", token="vmb_secret-token")

WRITER = """
import os, signal, sys
from asr.spool import SegmentSpool, StreamKey
spool = SegmentSpool(sys.argv[1])
stream = StreamKey("bot-7-c1-1-1700000000", 1.7e9, "Dana", "vmb_secret-token")
for n in range(int(sys.argv[2])):
    spool.add(stream, {"segment_id": f"{stream.uid}:1700000000000:{n}", "start": n, "end": n + 1,
                       "text": f" Sentence number {n}. ", "completed": True, "language": "en"})
spool.taken([f"{stream.uid}:1700000000000:0"])
os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: what kill -9 leaves
"""


def entry(n: int) -> dict[str, object]:
    return {"segment_id": f"{STREAM.uid}:1700000000000:{n}", "start": float(n), "end": n + 1.0,
            "text": f"Sentence number {n}.", "completed": True, "language": "en"}


def test_every_committed_segment_survives_a_kill_9_of_its_writer(tmp_path: Path) -> None:
    path = tmp_path / "asr" / "asr-spool.db"
    writer = subprocess.run([sys.executable, "-c", WRITER, str(path), "5"], cwd=REPO, capture_output=True)
    assert writer.returncode == -9, writer.stderr.decode()
    spool = SegmentSpool(path)
    owed = spool.owed()
    assert [o.entry["segment_id"].rsplit(":", 1)[1] for o in owed] == ["1", "2", "3", "4"]  # in order
    assert {o.stream for o in owed} == {STREAM}
    ledger = read_ledger(path)
    assert len(ledger) == 5 and ledger[f"{STREAM.uid}:1700000000000:0"] == (text_digest("Sentence number 0."), "stored")
    spool.close()


def test_a_taken_segment_keeps_only_its_ledger_entry_and_its_id_stays_frozen(tmp_path: Path) -> None:
    path = tmp_path / "asr-spool.db"
    spool = SegmentSpool(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # rows hold bot tokens
    assert spool.add(STREAM, entry(0)) and spool.add(STREAM, entry(1))
    spool.taken([entry(0)["segment_id"]])  # type: ignore[list-item]
    assert not spool.add(STREAM, {**entry(0), "text": "Sentence number zero."})  # re-emitted: frozen
    assert [o.entry["segment_id"] for o in spool.owed()] == [entry(1)["segment_id"]]
    spool.close()
    with sqlite3.connect(path) as db:
        tokens = db.execute("SELECT segment_id, token, body FROM segments ORDER BY seq").fetchall()
    assert tokens[0][1:] == (None, None)  # scrubbed once taken
    assert tokens[1][1] == STREAM.token  # still owed: it needs its token to be sent
    assert read_ledger(path)[entry(0)["segment_id"]] == (text_digest("Sentence number 0."), "stored")  # type: ignore[index]
