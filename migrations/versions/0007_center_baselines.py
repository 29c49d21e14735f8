"""centre baselines shared by the workers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 02:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('center_baselines',
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('responses', sa.Integer(), nullable=False),
    sa.Column('top_rated', sa.Integer(), nullable=False),
    sa.Column('satisfied', sa.Integer(), nullable=False),
    sa.Column('counted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('0 <= top_rated AND top_rated <= satisfied AND satisfied <= responses', name=op.f('ck_center_baselines_counts')),
    sa.ForeignKeyConstraint(['center_id'], ['service_centers.id'], name=op.f('fk_center_baselines_center_id_service_centers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('center_id', 'day', name=op.f('pk_center_baselines'))
    )


def downgrade():
    op.drop_table('center_baselines')
