"""counters, posters, dossier links, api tokens, login lockout

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('counters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['service_centers.id'], name=op.f('fk_counters_center_id_service_centers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counters')),
    sa.UniqueConstraint('center_id', 'code', name=op.f('uq_counters_center_id_code'))
    )
    op.create_table('posters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('counter_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('revoked_at IS NULL OR revoked_at >= created_at', name=op.f('ck_posters_revocation')),
    sa.ForeignKeyConstraint(['center_id'], ['service_centers.id'], name=op.f('fk_posters_center_id_service_centers')),
    sa.ForeignKeyConstraint(['counter_id'], ['counters.id'], name=op.f('fk_posters_counter_id_counters')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_posters_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posters'))
    )
    with op.batch_alter_table('posters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posters_center_id'), ['center_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_posters_counter_id'), ['counter_id'], unique=False)

    op.create_table('dossier_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('dossier_hash', sa.String(length=64), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_dossier_links_expiry')),
    sa.CheckConstraint('response_id IS NULL OR used_at IS NOT NULL', name=op.f('ck_dossier_links_used_with_response')),
    sa.ForeignKeyConstraint(['center_id'], ['service_centers.id'], name=op.f('fk_dossier_links_center_id_service_centers')),
    sa.ForeignKeyConstraint(['field_id'], ['fields.id'], name=op.f('fk_dossier_links_field_id_fields')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_dossier_links_response_id_responses'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_links')),
    sa.UniqueConstraint('dossier_hash', name=op.f('uq_dossier_links_dossier_hash')),
    sa.UniqueConstraint('response_id', name=op.f('uq_dossier_links_response_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_dossier_links_token_hash'))
    )
    with op.batch_alter_table('dossier_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_links_center_id'), ['center_id'], unique=False)

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counter_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('poster_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_responses_counter_id'), ['counter_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_responses_poster_id_posters'), 'posters', ['poster_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_responses_counter_id_counters'), 'counters', ['counter_id'], ['id'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_login_at')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_responses_counter_id_counters'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_responses_poster_id_posters'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_responses_counter_id'))
        batch_op.drop_column('poster_id')
        batch_op.drop_column('counter_id')

    with op.batch_alter_table('dossier_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossier_links_center_id'))

    op.drop_table('dossier_links')
    with op.batch_alter_table('posters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posters_counter_id'))
        batch_op.drop_index(batch_op.f('ix_posters_center_id'))

    op.drop_table('posters')
    op.drop_table('counters')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
