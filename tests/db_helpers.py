"""A fresh, migrated SQLite database for tests that use the data layer without a server."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from appliance.config import Settings, load_settings
from appliance.db import migrate


def migrated_settings_with_user(data_dir: Path, email: str) -> Settings:
    """Settings on a new data dir whose database is migrated and holds one user (id 1)."""
    configured = load_settings(data_dir=data_dir)
    migrate.upgrade(configured)
    with closing(sqlite3.connect(configured.database_path)) as conn, conn:
        conn.execute(
            "INSERT INTO users (id, email, max_concurrent_bots, data, created_at) "
            "VALUES (1, ?, 1, '{}', '2026-01-01 00:00:00.000000')",
            (email,),
        )
    return configured
