"""store_meta and scores.model: which model made each score, and the store's one model

After a config change, ``sync`` re-scored 8 of 382 people and left the rest with the old
model's results, and replicas with different files could mix two models. Every score now
records the fingerprint of the model that made it, and the store records the one model it
is scored with.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadsync.store.schema import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("model", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("model")
    op.drop_table("store_meta")
