"""paired and discovered LAN devices, pairing requests (issue 15)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """mDNS sightings of desktop clients, paired devices (each with its user API token), and
    pairing requests."""
    op.create_table('device_sightings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('addresses', sa.JSON(), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.Column('gone_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_sightings')),
    sa.UniqueConstraint('device_id', name=op.f('uq_device_sightings_device_id'))
    )
    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('revoked_token_hash', sa.String(length=64), nullable=True),
    sa.Column('paired_at', sa.DateTime(), nullable=False),
    sa.Column('paired_by', sa.String(length=320), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('last_address', sa.String(length=100), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_devices_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_devices_token_id_api_tokens'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('user_id', 'device_id', name='uq_devices_user_device'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_token_id'), ['token_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_revoked_token_hash'), ['revoked_token_hash'], unique=False)

    op.create_table('pairing_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('client_nonce', sa.String(length=32), nullable=False),
    sa.Column('server_nonce', sa.String(length=32), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=320), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('collected_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pairing_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairing_requests')),
    sa.UniqueConstraint('request_id', name=op.f('uq_pairing_requests_request_id')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('pairing_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pairing_requests_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    """Drop the device tables (device tokens stay in api_tokens as ordinary tokens)."""
    with op.batch_alter_table('pairing_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pairing_requests_expires_at'))
    op.drop_table('pairing_requests')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_revoked_token_hash'))
        batch_op.drop_index(batch_op.f('ix_devices_token_id'))
        batch_op.drop_index(batch_op.f('ix_devices_user_id'))
    op.drop_table('devices')
    op.drop_table('device_sightings')
