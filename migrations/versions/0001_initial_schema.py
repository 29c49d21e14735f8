"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('administrative_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.CheckConstraint("(level = 'province' AND parent_id IS NULL) OR (level <> 'province' AND parent_id IS NOT NULL)", name=op.f('ck_administrative_units_parent')),
    sa.CheckConstraint("level IN ('province', 'district', 'commune')", name=op.f('ck_administrative_units_level')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_administrative_units_validity')),
    sa.ForeignKeyConstraint(['parent_id'], ['administrative_units.id'], name=op.f('fk_administrative_units_parent_id_administrative_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_administrative_units')),
    sa.UniqueConstraint('code', 'valid_from', name=op.f('uq_administrative_units_code_valid_from'))
    )
    with op.batch_alter_table('administrative_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_administrative_units_parent_id'), ['parent_id'], unique=False)

    op.create_table('fields',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_vi', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fields')),
    sa.UniqueConstraint('code', name=op.f('uq_fields_code'))
    )
    op.create_table('instrument_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(sha256) = 64', name=op.f('ck_instrument_versions_sha256')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_instrument_versions_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instrument_versions')),
    sa.UniqueConstraint('instrument_id', 'version', name=op.f('uq_instrument_versions_instrument_id_version'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'analyst', 'staff')", name=op.f('ck_users_role')),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lowercase')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('service_centers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_vi', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('instrument_key', sa.String(length=80), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("level IN ('province', 'district', 'commune')", name=op.f('ck_service_centers_level')),
    sa.CheckConstraint('length(code) >= 2', name=op.f('ck_service_centers_code_length')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_service_centers_validity')),
    sa.ForeignKeyConstraint(['unit_id'], ['administrative_units.id'], name=op.f('fk_service_centers_unit_id_administrative_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_centers')),
    sa.UniqueConstraint('code', name=op.f('uq_service_centers_code'))
    )
    with op.batch_alter_table('service_centers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_centers_unit_id'), ['unit_id'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('instrument_version_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IS NULL OR channel IN ('direct', 'online', 'postal')", name=op.f('ck_responses_channel')),
    sa.CheckConstraint("locale IN ('vi', 'en')", name=op.f('ck_responses_locale')),
    sa.CheckConstraint("source IN ('survey', 'demo')", name=op.f('ck_responses_source')),
    sa.CheckConstraint('started_at IS NULL OR started_at <= submitted_at', name=op.f('ck_responses_times')),
    sa.ForeignKeyConstraint(['center_id'], ['service_centers.id'], name=op.f('fk_responses_center_id_service_centers')),
    sa.ForeignKeyConstraint(['field_id'], ['fields.id'], name=op.f('fk_responses_field_id_fields')),
    sa.ForeignKeyConstraint(['instrument_version_id'], ['instrument_versions.id'], name=op.f('fk_responses_instrument_version_id_instrument_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses')),
    sa.UniqueConstraint('uid', name=op.f('uq_responses_uid'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index('ix_responses_center_submitted', ['center_id', 'submitted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_field_id'), ['field_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_instrument_version_id'), ['instrument_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_submitted_at'), ['submitted_at'], unique=False)

    op.create_table('user_centers',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['service_centers.id'], name=op.f('fk_user_centers_center_id_service_centers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_centers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'center_id', name=op.f('pk_user_centers'))
    )
    op.create_table('answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('response_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('question_code', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.CheckConstraint('(value IS NOT NULL AND text IS NULL) OR (value IS NULL AND text IS NOT NULL)', name=op.f('ck_answers_value_or_text')),
    sa.CheckConstraint('text IS NULL OR length(text) BETWEEN 1 AND 10000', name=op.f('ck_answers_text_length')),
    sa.CheckConstraint('value IS NULL OR length(value) BETWEEN 1 AND 32', name=op.f('ck_answers_value_length')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_answers_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answers')),
    sa.UniqueConstraint('response_id', 'question_code', 'value', name=op.f('uq_answers_response_id_question_code_value'))
    )
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index('ix_answers_question_value', ['question_code', 'value'], unique=False)

    op.create_table('response_flags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('response_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_flags_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_response_flags')),
    sa.UniqueConstraint('response_id', 'code', name=op.f('uq_response_flags_response_id_code'))
    )
    with op.batch_alter_table('response_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_response_flags_response_id'), ['response_id'], unique=False)



def downgrade():
    with op.batch_alter_table('response_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_response_flags_response_id'))

    op.drop_table('response_flags')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index('ix_answers_question_value')

    op.drop_table('answers')
    op.drop_table('user_centers')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responses_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_responses_instrument_version_id'))
        batch_op.drop_index(batch_op.f('ix_responses_field_id'))
        batch_op.drop_index('ix_responses_center_submitted')

    op.drop_table('responses')
    with op.batch_alter_table('service_centers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_centers_unit_id'))

    op.drop_table('service_centers')
    op.drop_table('users')
    op.drop_table('instrument_versions')
    op.drop_table('fields')
    with op.batch_alter_table('administrative_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_administrative_units_parent_id'))

    op.drop_table('administrative_units')
