"""activities.record_uid: indexed only while an activity waits for its record (no person yet)

Every activity carries the uid of the record it names, but the store looks activities up by
it in two places only: activities still waiting for their record (``person_id IS NULL``), and
moving a record's activities with it, which reads them through the record's person. A full
index cost every stored activity one more B-tree insert (166 MB at 8M activities).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_activities_record_uid", table_name="activities")
    op.create_index(
        "ix_activities_orphan_record",
        "activities",
        ["record_uid"],
        postgresql_where=sa.text("person_id IS NULL"),
        sqlite_where=sa.text("person_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_activities_orphan_record", table_name="activities")
    op.create_index("ix_activities_record_uid", "activities", ["record_uid"])
