"""ids never reused: users and api_tokens get AUTOINCREMENT

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:05:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ("users", "api_tokens")


def upgrade() -> None:
    """SQLite adds AUTOINCREMENT only by rebuilding the table (rows and ids are copied). Migrations
    run with foreign keys off, so dropping the old table cascades to nothing."""
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
