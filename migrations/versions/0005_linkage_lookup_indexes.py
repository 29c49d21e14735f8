"""indexes for the fraud checks' look-ups by device and network over time

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('response_linkage', schema=None) as batch_op:
        batch_op.drop_index('ix_response_linkage_network_hash')
        batch_op.create_index('ix_response_linkage_device_created', ['device_hash', 'created_at'], unique=False)
        batch_op.create_index('ix_response_linkage_network_created', ['network_hash', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('response_linkage', schema=None) as batch_op:
        batch_op.drop_index('ix_response_linkage_network_created')
        batch_op.drop_index('ix_response_linkage_device_created')
        batch_op.create_index('ix_response_linkage_network_hash', ['network_hash'], unique=False)
