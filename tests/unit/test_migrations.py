"""Alembic migrations on a real SQLite file: up from empty, down to base, and up again."""

from __future__ import annotations

import sqlite3
import stat
from contextlib import closing
from pathlib import Path

from appliance.config import Settings, load_settings
from appliance.db import migrate
from appliance.db.models import Base

TABLES = {
    "admin_keys", "users", "api_tokens", "scheduled_meetings", "meetings", "transcript_segments",
    "recordings", "media_files", "webhook_deliveries", "share_links", "speaker_activity",
    "console_admins", "console_sessions", "login_attempts", "outbox_events",
    "calendar_connections", "calendar_events", "scheduled_meeting_readers",
    "device_sightings", "devices", "pairing_requests",
}
# Tables of migrations after 0007: gone again when a test downgrades to 0007 or below.
AFTER_0007 = {
    "calendar_connections", "calendar_events", "scheduled_meeting_readers", "device_sightings", "devices",
    "pairing_requests",
}


def tables(settings: Settings) -> set[str]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    # The search index (0007) is an FTS5 table and its shadow tables, not a model.
    return {name for (name,) in rows if not name.startswith("segments_fts")} - {"alembic_version"}


def indexes(settings: Settings, table: str) -> set[str]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA index_list({table})").fetchall()}


def columns(settings: Settings, table: str) -> set[str]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})").fetchall()}


def test_up_from_empty_down_to_base_and_up_again(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    assert not settings.database_path.exists()

    migrate.upgrade(settings)
    assert settings.database_path.is_file()
    assert stat.S_IMODE(settings.database_path.stat().st_mode) == 0o600
    assert tables(settings) == TABLES
    assert migrate.current_revision(settings) == migrate.head_revision(settings) is not None
    # The schema the migrations build is the one the models describe.
    assert tables(settings) == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        assert columns(settings, name) == {c.name for c in table.columns}, name
    assert {"ix_meetings_lookup", "ix_meetings_status"} <= indexes(settings, "meetings")
    assert "ix_segments_meeting_start" in indexes(settings, "transcript_segments")

    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute(
            "INSERT INTO users (email, max_concurrent_bots, data, created_at) "
            "VALUES ('m@example.com', 1, '{}', '2026-01-01 00:00:00')"
        )

    migrate.downgrade(settings, "base")
    assert tables(settings) == set()
    assert migrate.current_revision(settings) is None

    migrate.upgrade(settings)
    assert tables(settings) == TABLES
    assert migrate.current_revision(settings) == migrate.head_revision(settings)
    with closing(sqlite3.connect(settings.database_path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone() == (0,)


def test_upgrading_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    migrate.upgrade(settings)
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute(
            "INSERT INTO users (email, max_concurrent_bots, data, created_at) "
            "VALUES ('keep@example.com', 1, '{}', '2026-01-01 00:00:00')"
        )
    migrate.upgrade(settings)
    assert tables(settings) == TABLES
    with closing(sqlite3.connect(settings.database_path)) as conn:
        assert conn.execute("SELECT email FROM users").fetchall() == [("keep@example.com",)]
    # The data directory tree is created alongside, private to the service user.
    for folder in (settings.recordings_dir, settings.models_dir, settings.logs_dir, settings.state_dir):
        assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_token_and_user_ids_are_never_reused(tmp_path: Path) -> None:
    """A revoked token's id came back as another user's new token (no AUTOINCREMENT)."""
    settings = load_settings(data_dir=tmp_path / "data")
    migrate.upgrade(settings, "0005")
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute("INSERT INTO users (email, max_concurrent_bots, data, created_at) "
                     "VALUES ('a@example.com', 1, '{}', '2026-01-01 00:00:00')")
        for n in (1, 2):
            conn.execute("INSERT INTO api_tokens (user_id, prefix, token_hash, created_at) "
                         f"VALUES (1, 'vmt_{n}', 'hash{n}', '2026-01-01 00:00:00')")
    migrate.upgrade(settings)  # the rebuild keeps rows and ids
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        assert conn.execute("SELECT id, prefix FROM api_tokens ORDER BY id").fetchall() == [(1, "vmt_1"), (2, "vmt_2")]
        conn.execute("DELETE FROM api_tokens WHERE id = 2")
        conn.execute("INSERT INTO api_tokens (user_id, prefix, token_hash, created_at) "
                     "VALUES (1, 'vmt_3', 'hash3', '2026-01-01 00:00:00')")
        conn.execute("DELETE FROM users WHERE id = 1")
        conn.execute("INSERT INTO users (email, max_concurrent_bots, data, created_at) "
                     "VALUES ('b@example.com', 1, '{}', '2026-01-01 00:00:00')")
        assert conn.execute("SELECT id FROM api_tokens WHERE prefix = 'vmt_3'").fetchone() == (3,)
        assert conn.execute("SELECT id FROM users").fetchall() == [(2,)]


def _search(conn: sqlite3.Connection, words: str) -> list[int]:
    rows = conn.execute("SELECT rowid FROM segments_fts WHERE segments_fts MATCH ? ORDER BY rowid", (words,))
    return [rowid for (rowid,) in rows.fetchall()]


def test_the_search_index_covers_existing_segments_and_follows_changes(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    migrate.upgrade(settings, "0006")
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute("INSERT INTO users (email, max_concurrent_bots, data, created_at) "
                     "VALUES ('s@example.com', 1, '{}', '2026-01-01 00:00:00')")
        conn.execute("INSERT INTO meetings (user_id, platform, native_meeting_id, constructed_meeting_url, status, "
                     "data, transitions, created_at, updated_at) VALUES (1, 'google_meet', 'abc-defg-hij', "
                     "'https://meet.google.com/abc-defg-hij', 'completed', '{}', '[]', "
                     "'2026-01-01 00:00:00', '2026-01-01 00:00:00')")
        for n, words in enumerate(("the Café budget", "hiring plans", "budget review"), start=1):
            conn.execute("INSERT INTO transcript_segments (meeting_id, segment_id, start, \"end\", text, completed, "
                         f"created_at, updated_at) VALUES (1, 's{n}', {n}, {n + 1}, ?, 1, "
                         "'2026-01-01 00:00:00', '2026-01-01 00:00:00')", (words,))

    migrate.upgrade(settings)  # rows from before the index are in it
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute("PRAGMA foreign_keys=ON")
        assert _search(conn, "budget") == [1, 3]
        assert _search(conn, "cafe") == [1]  # diacritics folded
        conn.execute("UPDATE transcript_segments SET text = 'salary bands' WHERE id = 2")
        conn.execute("UPDATE transcript_segments SET completed = 0 WHERE id = 1")  # text unchanged
        conn.execute("DELETE FROM transcript_segments WHERE id = 3")
        assert _search(conn, "hiring") == [] and _search(conn, "salary") == [2]
        assert _search(conn, "budget") == [1]
        conn.execute("DELETE FROM meetings WHERE id = 1")  # the cascade reaches the index too
        assert _search(conn, "budget OR salary") == []
        # The index agrees with its content table (FTS5's own consistency check raises if not).
        conn.execute("INSERT INTO segments_fts(segments_fts) VALUES ('integrity-check')")

    migrate.downgrade(settings, "0006")
    with closing(sqlite3.connect(settings.database_path)) as conn:
        left = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'segments_fts%'").fetchall()
        assert left == []
    assert tables(settings) == TABLES - AFTER_0007
