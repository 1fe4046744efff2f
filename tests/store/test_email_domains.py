"""The domain the store indexes for a record is the one routing and accounts look up.

Before, ingest kept ``email.rsplit("@")`` of the normalised address (``bücher.de``,
``acme.com.``), hand-off routing looked up ``domain_of`` of the lead's address
(``xn--bcher-kva.de``, ``acme.com``), the engine fetched owners by a third reading and
accounts rolled up by a fourth: a lead at an international domain, or written with the
root's trailing dot, never found its account's owner, and ``a@gmail.com.`` made an account
of everyone who wrote it so. All of them now read ``leadsync.emails.email_domain``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from leadsync.emails import email_domain
from leadsync.engine.scoring import account_key
from leadsync.handoff import person_facts
from leadsync.records import PersonRecord, RecordRef
from leadsync.store import Store, db
from leadsync.store.handoffs import account_owners
from leadsync.store.ingest import upsert_people
from leadsync.store.scoring import PersonInputs

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Company domains as people type them: international, with the root's dot, in capitals.
DOMAINS = ("bücher.de", "ÉCOLE.fr", "acme.com", "müller-gmbh.at", "例え.jp", "straße.de")


def _written(rng: random.Random, domain: str) -> str:
    """One way of writing ``domain`` in an address: case, the root's dot, spaces around."""
    host = domain.upper() if rng.random() < 0.3 else domain
    host += "." if rng.random() < 0.5 else ""
    local = rng.choice(("anna", "Bob.Smith", "c+tag", "d_e"))
    return f"{rng.choice(('', ' '))}{local}@{host}{rng.choice(('', ' '))}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def test_routing_finds_the_owner_of_the_domain_the_store_indexed(store: Store) -> None:
    rng = random.Random(26)
    contacts = [
        PersonRecord(
            RecordRef("sf", "Contact", f"003{i}"), _written(rng, d), T0, owner_id=f"005{i}"
        )
        for i, d in enumerate(DOMAINS)
    ]
    with store.transaction() as conn:
        upsert_people(conn, contacts, T0)
    for i, domain in enumerate(DOMAINS):
        for _ in range(5):
            lead = _written(rng, domain)
            wanted = person_facts({}, email=lead).email_domain
            assert wanted is not None and wanted.isascii(), lead
            with store.reading() as conn:
                assert account_owners(conn, "sf", [wanted]) == {wanted: f"005{i}"}, lead


def _inputs(email: str) -> PersonInputs:
    return PersonInputs(1, email, None, 0, (), ())


def test_accounts_by_domain_read_the_domain_routing_reads() -> None:
    rng = random.Random(4)
    for domain in DOMAINS:
        email = _written(rng, domain)
        key = account_key(_inputs(email), None, "email_domain")
        assert key == f"domain:{email_domain(email)}"
        assert key == f"domain:{person_facts({}, email=email).email_domain}"
    for free in ("a@gmail.com.", "a@GMAIL.COM", " a@gmail.com "):
        assert account_key(_inputs(free), None, "email_domain") is None, free
    assert account_key(_inputs("no address"), None, "email_domain") is None


def test_migration_rereads_the_domains_stored_before_it(store_url: str) -> None:
    """A pull would not fix them: an unchanged record is not rewritten."""
    rows = {
        "anna@bücher.de": ("bücher.de", "xn--bcher-kva.de"),
        "bob@acme.com.": ("acme.com.", "acme.com"),
        "carl@acme.com": ("acme.com", "acme.com"),
        "dee@my_host.example": ("my_host.example", None),
        "eve@b@acme.io": ("acme.io", "acme.io"),
    }
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(db._alembic_config(conn), "0014")
            conn.execute(
                sa.text(
                    "INSERT INTO people (id, active, dirty, recycle_count, created_at, "
                    "updated_at) VALUES (1, true, false, 0, :t, :t)"
                ),
                {"t": T0.replace(tzinfo=None)},
            )
            for i, (email, (old, _)) in enumerate(rows.items()):
                conn.execute(
                    sa.text(
                        "INSERT INTO crm_records (uid, person_id, source, object_type, "
                        "external_id, email_norm, email_domain, attributes, opted_out, deleted, "
                        "modified_at, fingerprint, updated_at) VALUES (:uid, 1, 'sf', 'Contact', "
                        ":ext, :email, :domain, '{}', false, false, :t, 'x', :t)"
                    ),
                    {"uid": f"sf:Contact:{i}", "ext": str(i), "email": email, "domain": old,
                     "t": T0.replace(tzinfo=None)},
                )  # fmt: skip
        db.upgrade(engine)
        with engine.connect() as conn:
            query = sa.text("SELECT email_norm, email_domain FROM crm_records")
            got = {email: domain for email, domain in conn.execute(query)}
    finally:
        engine.dispose()
    assert got == {email: new for email, (_, new) in rows.items()}


def test_the_account_rep_is_the_newest_contacts_owner_whoever_wrote_last(store: Store) -> None:
    """Two Contacts at one domain, owned by two reps: the newer Contact's rep is the account's,
    also when LeadSync wrote fit to the older one last (a write moves its modification stamp)
    and a store reads both for the first time after that."""
    older = PersonRecord(
        RecordRef("sf", "Contact", "003A"), "a@acme.com", T0, owner_id="005old", created_at=T0
    )
    newer = PersonRecord(
        RecordRef("sf", "Contact", "003B"),
        "b@acme.com",
        T0.replace(hour=10),
        owner_id="005new",
        created_at=T0.replace(hour=10),
    )
    written = replace(older, modified_at=T0.replace(hour=11))
    with store.transaction() as conn:
        upsert_people(conn, [written, newer], T0.replace(hour=11))
    with store.reading() as conn:
        assert account_owners(conn, "sf", ["acme.com"]) == {"acme.com": "005new"}
