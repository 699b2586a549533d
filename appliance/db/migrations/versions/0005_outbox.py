"""outbox: events written in the transaction of the change they report

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:50:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """The outbox table; AUTOINCREMENT so that event ids are never reused."""
    op.create_table('outbox_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('relayed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_outbox_events_meeting_id_meetings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_events_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_events_event_id')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_outbox_unrelayed', 'outbox_events', ['relayed_at', 'id'], unique=False)
    op.create_index(op.f('ix_outbox_events_user_id'), 'outbox_events', ['user_id'], unique=False)
    op.create_index(op.f('ix_outbox_events_meeting_id'), 'outbox_events', ['meeting_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_outbox_events_meeting_id'), table_name='outbox_events')
    op.drop_index(op.f('ix_outbox_events_user_id'), table_name='outbox_events')
    op.drop_index('ix_outbox_unrelayed', table_name='outbox_events')
    op.drop_table('outbox_events')
