"""scheduled meetings' calendar decisions (issue 16)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:30:00

"""
from typing import Sequence, Union


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Reserved so that three parts built at once chain in a fixed order; filled in by its part.
    pass


def downgrade() -> None:
    pass
