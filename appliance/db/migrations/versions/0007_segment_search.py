"""full-text search over transcript segments (FTS5, kept in step by triggers)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:15:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# External content: the index holds only tokens and reads the text back from
# transcript_segments, so snippet() works (a contentless table cannot return text) and the
# text is not stored twice. No porter stemmer: segments carry their own language and porter
# is English-only; a prefix query (budget*) covers plurals in every language.
CREATE = (
    "CREATE VIRTUAL TABLE segments_fts USING fts5(text, content='transcript_segments', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
)
# Triggers, so the collector, deletes, purges and retention (and cascades from meetings)
# keep the index in step without each one remembering to. A later migration that rebuilds
# transcript_segments (batch_alter_table recreate) drops them: it must create them again and
# 'rebuild' the index (tests/unit/test_migrations.py checks them at head).
TRIGGERS = (
    "CREATE TRIGGER segments_fts_insert AFTER INSERT ON transcript_segments BEGIN "
    "INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER segments_fts_delete AFTER DELETE ON transcript_segments BEGIN "
    "INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    # Only a change of text touches the index: the collector rewrites segments often
    # (partial to completed, speaker names) without changing the words.
    "CREATE TRIGGER segments_fts_update AFTER UPDATE OF text ON transcript_segments "
    "WHEN old.text IS NOT new.text BEGIN "
    "INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text); END",
)


def upgrade() -> None:
    op.execute(CREATE)
    op.execute("INSERT INTO segments_fts(segments_fts) VALUES ('rebuild')")  # the existing rows
    for trigger in TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    for name in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS segments_fts_{name}")
    op.execute("DROP TABLE IF EXISTS segments_fts")
