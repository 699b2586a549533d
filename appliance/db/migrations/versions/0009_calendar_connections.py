"""calendar connections and their synced events (issue 16)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Connections (secrets sealed, never in clear) and the event instances their syncs store."""
    op.create_table('calendar_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret', sa.LargeBinary(), nullable=False),
    sa.Column('secret_hint', sa.String(length=300), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('last_sync_at', sa.DateTime(), nullable=True),
    sa.Column('next_sync_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('retry_after_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_calendar_connections_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_connections')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_calendar_connections_due', 'calendar_connections', ['next_sync_at'], unique=False)
    op.create_index(op.f('ix_calendar_connections_user_id'), 'calendar_connections', ['user_id'], unique=False)
    op.create_table('calendar_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('owner_email', sa.String(length=320), nullable=False),
    sa.Column('uid', sa.String(length=1000), nullable=False),
    sa.Column('instance_key', sa.String(length=64), nullable=False),
    sa.Column('start_at', sa.DateTime(), nullable=False),
    sa.Column('end_at', sa.DateTime(), nullable=False),
    sa.Column('title', sa.String(length=1000), nullable=False),
    sa.Column('meeting_url', sa.String(length=2000), nullable=True),
    sa.Column('organizer_email', sa.String(length=320), nullable=True),
    sa.Column('attendee_status', sa.String(length=20), nullable=True),
    sa.Column('is_private', sa.Boolean(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['calendar_connections.id'], name=op.f('fk_calendar_events_connection_id_calendar_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_events')),
    sa.UniqueConstraint('connection_id', 'owner_email', 'uid', 'instance_key', name='uq_calendar_event_instance'),
    )
    op.create_index('ix_calendar_events_start', 'calendar_events', ['start_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_calendar_events_start', table_name='calendar_events')
    op.drop_table('calendar_events')
    op.drop_index(op.f('ix_calendar_connections_user_id'), table_name='calendar_connections')
    op.drop_index('ix_calendar_connections_due', table_name='calendar_connections')
    op.drop_table('calendar_connections')
