"""speaker activity

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:02:29.886637

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Who spoke when, for mixed audio channels."""
    op.create_table('speaker_activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('speaker', sa.String(length=200), nullable=False),
    sa.Column('start_time', sa.DateTime(), nullable=False),
    sa.Column('end_time', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_speaker_activity_meeting_id_meetings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speaker_activity'))
    )
    with op.batch_alter_table('speaker_activity', schema=None) as batch_op:
        batch_op.create_index('ix_activity_meeting_start', ['meeting_id', 'start_time'], unique=False)



def downgrade() -> None:
    """Drop the speaker activity log."""
    with op.batch_alter_table('speaker_activity', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_meeting_start')

    op.drop_table('speaker_activity')
