"""crm_records.created_at: when each record entered the CRM

The report dated a lead by its first scoring, so after the first backfill every lead "entered"
this month. Connectors now pull the CRM's creation time (Salesforce CreatedDate, HubSpot
createdate) and the report dates a lead by its earliest record's. Rows stored before stay
empty until a pull reads them again (a record with a creation time gets a new fingerprint, so
it is rewritten): run ``leadsync backfill`` once to fill them all; until then the report
dates such a lead by its first activity, score or conversion, as before.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadsync.store.schema

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crm_records") as batch:
        batch.add_column(
            sa.Column("created_at", leadsync.store.schema.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_records") as batch:
        batch.drop_column("created_at")
