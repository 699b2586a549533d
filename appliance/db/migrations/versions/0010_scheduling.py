"""scheduled meetings' calendar decisions and their readers (issue 16)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:30:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ("join_at", "end_at", "title", "auto_join", "decision_reason", "error", "dedupe_key",
           "launched_at", "updated_at")


def upgrade() -> None:
    with op.batch_alter_table('scheduled_meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('end_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('title', sa.String(length=1000), nullable=True))
        # Rows from before are ad-hoc bots, already launched: they wanted a bot.
        batch_op.add_column(sa.Column('auto_join', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('decision_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('launched_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_scheduled_meetings_dedupe_key'), ['dedupe_key'])
        batch_op.create_index('ix_scheduled_meetings_state_start', ['state', 'start_at'], unique=False)

    op.create_table('scheduled_meeting_readers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scheduled_meeting_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.String(length=1600), nullable=True),
    sa.Column('auto_join', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('override', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['scheduled_meeting_id'], ['scheduled_meetings.id'], name=op.f('fk_scheduled_meeting_readers_scheduled_meeting_id_scheduled_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_scheduled_meeting_readers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_meeting_readers')),
    sa.UniqueConstraint('event_key', name=op.f('uq_scheduled_meeting_readers_event_key'))
    )
    with op.batch_alter_table('scheduled_meeting_readers', schema=None) as batch_op:
        batch_op.create_index('ix_readers_user_scheduled', ['user_id', 'scheduled_meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_meeting_readers_scheduled_meeting_id'), ['scheduled_meeting_id'], unique=False)
    # The owner of every existing request reads it, as the access checks now ask.
    op.execute(
        "INSERT INTO scheduled_meeting_readers (scheduled_meeting_id, user_id, auto_join, created_at) "
        "SELECT id, user_id, 1, created_at FROM scheduled_meetings"
    )


def downgrade() -> None:
    with op.batch_alter_table('scheduled_meeting_readers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_meeting_readers_scheduled_meeting_id'))
        batch_op.drop_index('ix_readers_user_scheduled')
    op.drop_table('scheduled_meeting_readers')
    with op.batch_alter_table('scheduled_meetings', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_meetings_state_start')
        batch_op.drop_constraint(batch_op.f('uq_scheduled_meetings_dedupe_key'), type_='unique')
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
