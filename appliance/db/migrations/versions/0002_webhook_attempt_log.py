"""webhook attempt log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:51:16.786686

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Keep every webhook attempt; one delivery per (user, event id)."""
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.create_unique_constraint('uq_delivery_per_user_event', ['user_id', 'event_id'])



def downgrade() -> None:
    """Back to one row without an attempt log."""
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_delivery_per_user_event', type_='unique')
        batch_op.drop_column('attempts')

