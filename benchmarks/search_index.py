"""The search index (migration 0007) at scale: what its triggers cost the segment writes, how
fast GET /search's query is, and what the 'optimize' after a delete costs.

Builds a real data directory in a temporary folder: one user, 200 meetings of 500 segments of
14 random words (a 5,000-word vocabulary plus a few real ones), about 28 hours of speech.
Run: .venv/bin/python benchmarks/search_index.py [--revision 0006] (0006: no index, to compare).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

from appliance.config import load_settings
from appliance.db import migrate
from appliance.transcripts.search import HITS

MEETINGS, PER_MEETING, WORDS_PER_SEGMENT = 200, 500, 14
QUERIES = ("budget", "budget roadmap", '"budget roadmap"', "w12*")


def seed(conn: sqlite3.Connection, rng: random.Random) -> None:
    vocabulary = [f"w{n}" for n in range(5000)] + ["budget", "hiring", "roadmap", "customer"]
    conn.execute("INSERT INTO users (email, max_concurrent_bots, data, created_at) "
                 "VALUES ('bench@example.com', 1, '{}', '2026-01-01')")
    for m in range(1, MEETINGS + 1):
        conn.execute("INSERT INTO meetings (user_id, platform, native_meeting_id, constructed_meeting_url, "
                     "status, data, transitions, created_at, updated_at) VALUES (1, 'google_meet', ?, 'u', "
                     "'completed', '{}', '[]', '2026-01-01', '2026-01-01')", (f"m{m}",))
        conn.executemany(
            "INSERT INTO transcript_segments (meeting_id, segment_id, start, \"end\", text, completed, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, '2026-01-01', '2026-01-01')",
            [(m, f"s{n}", n * 3.0, n * 3.0 + 2.5, " ".join(rng.choices(vocabulary, k=WORDS_PER_SEGMENT)))
             for n in range(PER_MEETING)],
        )
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--revision", default="head", help="migrate to this revision (0006: no index)")
    revision = parser.parse_args().revision
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(data_dir=Path(folder))
        migrate.upgrade(settings, revision)
        with closing(sqlite3.connect(settings.database_path)) as conn:
            conn.execute("PRAGMA secure_delete=ON")  # as the appliance's connections
            started = time.perf_counter()
            seed(conn, random.Random(7))
            print(f"{MEETINGS * PER_MEETING} segments written in {time.perf_counter() - started:.1f} s; "
                  f"file {settings.database_path.stat().st_size / 1e6:.0f} MB")
            if revision != "head":
                return
            sql = str(HITS)
            for query in QUERIES:
                started = time.perf_counter()
                conn.execute(sql, {"query": query, "user_id": 1, "limit": 100, "offset": 0}).fetchall()
                took = time.perf_counter() - started
                (hits,) = conn.execute("SELECT count(*) FROM segments_fts WHERE segments_fts MATCH ?",
                                       (query,)).fetchone()
                print(f"q={query!r}: {hits} matching segments, the first 100 in {took * 1000:.0f} ms")
            conn.execute("DELETE FROM transcript_segments WHERE meeting_id = 1")
            conn.commit()
            started = time.perf_counter()
            conn.execute("INSERT INTO segments_fts(segments_fts) VALUES ('optimize')")
            conn.commit()
            print(f"optimize after deleting a meeting of {PER_MEETING} segments: "
                  f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
