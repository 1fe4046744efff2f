"""``update_rows``: the same table as one UPDATE per row, on both databases, set-based or not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsync.store import Store, bulk_update
from leadsync.store.bulk_update import update_rows
from leadsync.store.schema import JSONType, UTCDateTime
from tests.conftest import fresh_store_url

meta = sa.MetaData()
rows_table = sa.Table(
    "bulk_update_rows",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(300)),
    sa.Column("doc", JSONType),
    sa.Column("at", UTCDateTime),
    sa.Column("untouched", sa.String(10)),
)
BACKENDS = pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
SIZE = 300


@pytest.fixture(scope="module")
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    backend = request.param
    for url in fresh_store_url(backend, tmp_path_factory.mktemp(backend)):
        s = Store(url)
        meta.create_all(s.engine)
        yield s
        s.close()


def _reset(conn: sa.Connection) -> None:
    conn.execute(sa.delete(rows_table))
    conn.execute(
        sa.insert(rows_table),
        [{"id": i, "name": f"n{i}", "doc": {"i": i}, "untouched": "keep"} for i in range(SIZE)],
    )


_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_TEXT = st.one_of(st.none(), st.text(_CHARS, max_size=20))
# JSON keys as LeadSync stores them: ingest drops NUL, which PostgreSQL's JSONB refuses.
_DOC = st.dictionaries(st.text(_CHARS, max_size=3), st.integers(), max_size=2)
_ROW = st.fixed_dictionaries(
    {
        "id": st.integers(0, SIZE + 5),
        "name": _TEXT,
        "doc": st.one_of(st.none(), _DOC),
        "at": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))).map(
            lambda d: d.replace(microsecond=0) if d else d
        ),
    }
)


@BACKENDS
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_ROW, max_size=250), small=st.booleans())
def test_the_table_ends_as_one_update_per_row_in_order_leaves_it(
    store: Store, rows: list[dict[str, object]], small: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set-based or row by row: each key ends with its last row's values, keys not named and
    columns not named keep theirs, a key with no table row changes nothing."""
    if small:
        monkeypatch.setattr(bulk_update, "SET_BASED_MIN_ROWS", 10**9)
    else:
        monkeypatch.setattr(bulk_update, "SET_BASED_MIN_ROWS", 1)
    expected = {i: {"name": f"n{i}", "doc": {"i": i}, "at": None} for i in range(SIZE)}
    for row in rows:
        if row["id"] in expected:
            expected[row["id"]] = {k: v for k, v in row.items() if k != "id"}
    with store.transaction() as conn:
        _reset(conn)
        update_rows(conn, rows_table, "id", rows)
        found = {
            r.id: {"name": r.name, "doc": r.doc, "at": r.at}
            for r in conn.execute(sa.select(rows_table))
        }
        untouched = set(conn.execute(sa.select(rows_table.c.untouched)).scalars())
    assert found == expected
    assert untouched == {"keep"}


@BACKENDS
def test_many_rows_go_in_statements_of_a_bounded_size(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_update, "ROWS_PER_STATEMENT", 7)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    with store.transaction() as conn:
        _reset(conn)
        update_rows(conn, rows_table, "id", [{"id": i, "at": now} for i in range(0, SIZE, 2)])
        stamped = conn.execute(
            sa.select(rows_table.c.id).where(rows_table.c.at.is_not(None))
        ).scalars()
        assert sorted(stamped) == list(range(0, SIZE, 2))
