"""response linkage, reviews, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_events_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_user_id'), ['user_id'], unique=False)

    op.create_table('response_linkage',
    sa.Column('response_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('device_hash', sa.String(length=64), nullable=True),
    sa.Column('network_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("via IN ('poster', 'dossier')", name=op.f('ck_response_linkage_via')),
    sa.ForeignKeyConstraint(['center_id'], ['service_centers.id'], name=op.f('fk_response_linkage_center_id_service_centers')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_linkage_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', name=op.f('pk_response_linkage'))
    )
    with op.batch_alter_table('response_linkage', schema=None) as batch_op:
        batch_op.create_index('ix_response_linkage_center_day', ['center_id', 'day'], unique=False)
        batch_op.create_index(batch_op.f('ix_response_linkage_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_response_linkage_network_hash'), ['network_hash'], unique=False)
        batch_op.create_index('uq_response_linkage_device_center_day', ['device_hash', 'center_id', 'day'], unique=True, sqlite_where=sa.text("via = 'poster' AND device_hash IS NOT NULL"), postgresql_where=sa.text("via = 'poster' AND device_hash IS NOT NULL"))

    op.create_table('response_reviews',
    sa.Column('response_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision IN ('include', 'exclude')", name=op.f('ck_response_reviews_decision')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_reviews_response_id_responses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_response_reviews_reviewer_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('response_id', name=op.f('pk_response_reviews'))
    )


def downgrade():
    op.drop_table('response_reviews')
    with op.batch_alter_table('response_linkage', schema=None) as batch_op:
        batch_op.drop_index('uq_response_linkage_device_center_day', sqlite_where=sa.text("via = 'poster' AND device_hash IS NOT NULL"), postgresql_where=sa.text("via = 'poster' AND device_hash IS NOT NULL"))
        batch_op.drop_index(batch_op.f('ix_response_linkage_network_hash'))
        batch_op.drop_index(batch_op.f('ix_response_linkage_created_at'))
        batch_op.drop_index('ix_response_linkage_center_day')

    op.drop_table('response_linkage')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_user_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
