"""``store.db.backend_name``: which database a store URL names, read without connecting
(the service picks its scheduler lease by it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.lease import AdvisoryLease, SoleLease
from leadsync.errors import StoreError
from leadsync.service.runtime import make_lease
from leadsync.store.db import backend_name

DRIVERS = {"postgresql": ("", "+psycopg", "+psycopg2"), "sqlite": ("", "+pysqlite")}
words = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)


@given(st.sampled_from(sorted(DRIVERS)), st.data(), words, words)
def test_the_backend_is_named_whatever_the_driver_host_and_database(
    backend: str, data: st.DataObject, host: str, database: str
) -> None:
    driver = data.draw(st.sampled_from(DRIVERS[backend]))
    url = (
        f"sqlite{driver}:///{host}/{database}.db"
        if backend == "sqlite"
        else f"postgresql{driver}://user@{host}:5432/{database}"
    )
    assert backend_name(url) == backend


def test_a_sqlite_store_leads_alone_and_postgresql_competes_for_the_lease() -> None:
    assert isinstance(make_lease("sqlite:///leadsync.db", timedelta(minutes=1)), SoleLease)
    lease = make_lease("postgresql+psycopg://u@127.0.0.1:1/none", timedelta(minutes=1))
    assert isinstance(lease, AdvisoryLease) and lease.role == "standby"


def test_what_is_no_database_url_says_so() -> None:
    with pytest.raises(StoreError, match="is not a database URL"):
        backend_name("not a url")
