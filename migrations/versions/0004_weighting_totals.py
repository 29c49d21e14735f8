"""weighting totals uploaded per period

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('weighting_totals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('keys', sa.String(length=200), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.Column('population', sa.Double(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('poststrat', 'margin')", name=op.f('ck_weighting_totals_kind')),
    sa.CheckConstraint('population >= 0', name=op.f('ck_weighting_totals_population')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_weighting_totals_uploaded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_weighting_totals')),
    sa.UniqueConstraint('period', 'kind', 'keys', name=op.f('uq_weighting_totals_period_kind_keys'))
    )
    with op.batch_alter_table('weighting_totals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_weighting_totals_period'), ['period'], unique=False)


def downgrade():
    with op.batch_alter_table('weighting_totals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_weighting_totals_period'))
    op.drop_table('weighting_totals')
