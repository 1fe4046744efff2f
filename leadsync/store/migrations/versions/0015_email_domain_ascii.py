"""crm_records.email_domain: the one reading of an address's domain

Ingest kept the text after the "@" of the normalised address as it was: an international
domain in Unicode (bücher.de), the DNS root's trailing dot (acme.com.), a host name no DNS
allows. Hand-off routing looks an account's owner up by the domain as
``leadsync.emails.email_domain`` reads it (xn--bcher-kva.de, acme.com, none), so those
contacts' owners were never found. Ingest now stores that reading; this re-reads the rows
stored before (a pull would not: the domain is left out of a record's fingerprint, so an
unchanged record is not rewritten). Only rows whose reading differs are updated: a few.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadsync.emails import email_domain

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Rows read per query: the whole table passes through, a page at a time by id.
_PAGE = 20_000
#: The column's width: a longer domain is not indexed (as ingest does).
_DOMAIN_CHARS = 255

_records = sa.table(
    "crm_records",
    sa.column("id", sa.Integer),
    sa.column("email_norm", sa.String),
    sa.column("email_domain", sa.String),
)


def upgrade() -> None:
    bind = op.get_bind()
    after = 0
    while True:
        page = bind.execute(
            sa.select(_records.c.id, _records.c.email_norm, _records.c.email_domain)
            .where(_records.c.id > after)
            .order_by(_records.c.id)
            .limit(_PAGE)
        ).all()
        if not page:
            return
        changed = []
        for row_id, email, stored in page:
            domain = email_domain(email)
            domain = domain if domain and len(domain) <= _DOMAIN_CHARS else None
            if domain != stored:
                changed.append({"row_id": row_id, "domain": domain})
        if changed:
            bind.execute(
                sa.update(_records)
                .where(_records.c.id == sa.bindparam("row_id"))
                .values(email_domain=sa.bindparam("domain")),
                changed,
            )
        after = page[-1][0]


def downgrade() -> None:
    """The ASCII readings stay: the previous revision's code reads them as any domain."""
