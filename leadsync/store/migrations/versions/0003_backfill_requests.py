"""backfill requests: the queue of backfills the leading ``leadsync run`` takes between cycles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadsync.store.schema
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('backfill_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connectors', JSON, nullable=False),
    sa.Column('since', leadsync.store.schema.UTCDateTime(), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('no_actions', sa.Boolean(), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('requested_at', leadsync.store.schema.UTCDateTime(), nullable=False),
    sa.Column('started_at', leadsync.store.schema.UTCDateTime(), nullable=True),
    sa.Column('finished_at', leadsync.store.schema.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('report', JSON, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backfill_requests'))
    )
    with op.batch_alter_table('backfill_requests', schema=None) as batch_op:
        batch_op.create_index('ix_backfill_requests_state', ['state', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backfill_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_backfill_requests_state')

    op.drop_table('backfill_requests')
