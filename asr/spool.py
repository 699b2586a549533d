"""The ASR sink's durable spool: completed segments on disk before they count as emitted.

A small SQLite file in the ASR's data directory (mode 0600: rows hold bot tokens until the
appliance has taken them). A completed segment is committed here before the streaming client
hears of it, so a `kill -9` of `vomeet asr`, or an appliance that is down, loses nothing: the
next run replays every segment not yet taken, stream by stream, in the order it was emitted.

Once the appliance has taken a segment its row is compacted to a ledger entry (segment id,
SHA-256 of the text, outcome; token and text scrubbed). The ledger is what the ASR emitted: it
freezes a segment id as the appliance does (a re-emission of a taken id is not sent again) and
it is what crash tests compare the stored transcript with. Ledger rows older than
`LEDGER_KEEP_S` are deleted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEDGER_KEEP_S = 7 * 86400.0
MEMORY = ":memory:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    segment_id TEXT NOT NULL UNIQUE,
    uid TEXT NOT NULL,
    started_at REAL NOT NULL,
    speaker TEXT,
    token TEXT,             -- scrubbed once taken
    body TEXT,              -- the segment as posted (JSON); scrubbed once taken
    text_sha256 TEXT NOT NULL,
    emitted_at REAL NOT NULL,
    taken_at REAL,
    outcome TEXT            -- NULL while owed, then 'stored' or 'refused'
);
CREATE INDEX IF NOT EXISTS ix_segments_owed ON segments (taken_at, seq);
"""


def text_digest(text: str) -> str:
    """The digest of a segment's text as the appliance stores it (surrounding blanks dropped)."""
    return hashlib.sha256(text.strip().encode()).hexdigest()


@dataclass(frozen=True)
class StreamKey:
    """The identity of one stream as the appliance sees it."""

    uid: str
    started_at: float
    speaker: str | None
    token: str


@dataclass(frozen=True)
class Owed:
    """A spooled segment the appliance has not taken yet."""

    seq: int
    stream: StreamKey
    entry: dict[str, Any]


class SegmentSpool:
    """Thread-safe; every write is its own committed transaction (synchronous=FULL)."""

    def __init__(self, path: Path | str = MEMORY) -> None:
        self.path = path
        if path != MEMORY:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600, exist_ok=True)
            path.chmod(0o600)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a segment on disk survives power loss too
            # Scrubbed text and tokens are overwritten, not left readable in free space.
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(SCHEMA)
            self._db.execute("DELETE FROM segments WHERE taken_at < ?", (time.time() - LEDGER_KEEP_S,))

    def add(self, stream: StreamKey, entry: dict[str, Any]) -> bool:
        """Record a completed segment; False if its id was emitted before (frozen: not owed again)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO segments (segment_id, uid, started_at, speaker, token, body,"
                " text_sha256, emitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (entry["segment_id"], stream.uid, stream.started_at, stream.speaker, stream.token,
                 json.dumps(entry), text_digest(entry["text"]), time.time()),
            )
            return cursor.rowcount == 1

    def owed(self) -> list[Owed]:
        """Every segment not taken yet, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, uid, started_at, speaker, token, body FROM segments"
                " WHERE taken_at IS NULL ORDER BY seq"
            ).fetchall()
        return [Owed(seq, StreamKey(uid, started, speaker, token), json.loads(body))
                for seq, uid, started, speaker, token, body in rows]

    def taken(self, segment_ids: list[str], outcome: str = "stored") -> None:
        """The appliance answered for these segments: keep only their ledger entry."""
        if not segment_ids:
            return
        with self._lock:
            self._db.executemany(
                "UPDATE segments SET taken_at = ?, outcome = ?, token = NULL, body = NULL"
                " WHERE segment_id = ? AND taken_at IS NULL",
                [(time.time(), outcome, segment_id) for segment_id in segment_ids],
            )

    def ledger(self) -> dict[str, tuple[str, str | None]]:
        """segment_id -> (text digest, outcome or None while owed): everything emitted."""
        with self._lock:
            rows = self._db.execute("SELECT segment_id, text_sha256, outcome FROM segments").fetchall()
        return {segment_id: (digest, outcome) for segment_id, digest, outcome in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def read_ledger(path: Path) -> dict[str, tuple[str, str | None]]:
    """The ledger of a spool file, for checks from outside the ASR process (it may still run)."""
    db = sqlite3.connect(str(path))
    try:
        rows = db.execute("SELECT segment_id, text_sha256, outcome FROM segments").fetchall()
    finally:
        db.close()
    return {segment_id: (digest, outcome) for segment_id, digest, outcome in rows}
