"""Alembic migrations, run programmatically (no alembic.ini to ship or find)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from appliance.config import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{settings.database_path}")
    return config


def _prepare(settings: Settings) -> Config:
    settings.ensure_dirs()
    config = alembic_config(settings)
    if not settings.database_path.exists():
        settings.database_path.touch(mode=0o600)
    os.chmod(settings.database_path, 0o600)
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(_prepare(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(_prepare(settings), revision)


def current_revision(settings: Settings) -> str | None:
    engine = create_engine(f"sqlite:///{settings.database_path}")
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
