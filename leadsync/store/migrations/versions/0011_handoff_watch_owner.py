"""handoffs.watch_owner_id / watch_since: the SLA watch follows a human re-assignment

A rep re-assigned a lead by hand right after LeadSync's hand-off and the new owner called
within the SLA; LeadSync counted touches only from the routed rep and tasked the manager
about a rep who no longer owned the lead. The watch now moves to the new owner.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadsync.store.schema import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("watch_owner_id", sa.String(128)))
        batch.add_column(sa.Column("watch_since", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("watch_since")
        batch.drop_column("watch_owner_id")
