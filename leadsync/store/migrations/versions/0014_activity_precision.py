"""activities.early_s / late_s: how precise each activity's time is

A "Contact Us" form at 08:00 outranked an unsubscribe at 20:00 the same day: the campaign
response was timed by CampaignMember.FirstRespondedDate, a date read as 00:00. Each activity
now carries the seconds before and after its time that the true instant may lie, and the
do-not-contact rule lifts an opt-out only for a hand-raise surely after it.

Campaign members stored before this revision were timed by FirstRespondedDate (midnight UTC
of a date kept in some unknown zone) or CreatedDate, and LeadSync did not read the member's
LastModifiedDate. What the store knows bounds them honestly: from 14 hours before the stored
time (the date's day began at UTC+14 at the earliest) to the row's SystemModstamp (the
member's status cannot have changed after its last modification). Their people are queued
for re-scoring. The next pull of a member replaces the bounds with the connector's own.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A date's day began at most this long before its UTC midnight (UTC+14).
_DATE_STARTS_BEFORE_S = 14 * 3600
_MEMBERS = "uid LIKE '%:CampaignMember:%'"


def upgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.add_column(sa.Column("early_s", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("late_s", sa.Integer, nullable=False, server_default="0"))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        seconds = "EXTRACT(EPOCH FROM (modified_at - occurred_at))"
        late = f"LEAST(GREATEST(CEIL({seconds}), 0), 2147483647)"
    else:
        seconds = "(julianday(modified_at) - julianday(occurred_at)) * 86400"
        late = f"MIN(MAX(CAST({seconds} + 0.999 AS INTEGER), 0), 2147483647)"
    op.execute(
        f"UPDATE activities SET early_s = {_DATE_STARTS_BEFORE_S}, late_s = {late} WHERE {_MEMBERS}"
    )
    op.execute(
        "UPDATE people SET dirty = true WHERE id IN "
        f"(SELECT person_id FROM activities WHERE {_MEMBERS} AND person_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("late_s")
        batch.drop_column("early_s")
