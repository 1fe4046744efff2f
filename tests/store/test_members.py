"""``among``: the same rows as ``IN`` for any values, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsync.store import Store
from leadsync.store.members import SEPARATOR, among
from tests.conftest import fresh_store_url

meta = sa.MetaData()
things = sa.Table(
    "among_things",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(300)),
)
BACKENDS = pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
NAMES = [
    "a,b",
    'q"uote',
    "{brace}",
    "back\\slash",
    "ünï",
    "sp ace",
    "",
    "x" + SEPARATOR + "y",
    "NULL",
]


@pytest.fixture(scope="module")
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    backend = request.param
    for url in fresh_store_url(backend, tmp_path_factory.mktemp(backend)):
        s = Store(url)
        meta.create_all(s.engine)
        with s.transaction() as conn:
            conn.execute(sa.insert(things), [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)])
        yield s
        s.close()


def _names(store: Store, values: list[str]) -> set[str]:
    with store.reading() as conn:
        query = sa.select(things.c.name).where(among(conn, things.c.name, values))
        return set(conn.execute(query).scalars())


def _ids(store: Store, values: list[int]) -> set[int]:
    with store.reading() as conn:
        return set(
            conn.execute(sa.select(things.c.id).where(among(conn, things.c.id, values))).scalars()
        )


@BACKENDS
def test_awkward_text_values_match_exactly_themselves(store: Store) -> None:
    for name in NAMES:
        assert _names(store, [name]) == {name}
    assert _names(store, NAMES) == set(NAMES)
    assert _names(store, ["a", "b", "a,b"]) == {"a,b"}
    assert _names(store, []) == set()


@BACKENDS
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(st.sampled_from(NAMES) | st.text(max_size=6), max_size=8),
    ids=st.lists(st.integers(min_value=-5, max_value=2**31 - 1), max_size=8),
)
def test_any_values_select_the_same_rows_as_a_python_filter(
    store: Store, names: list[str], ids: list[int]
) -> None:
    names = [n.replace("\x00", "") for n in names]  # PostgreSQL text holds no NUL
    assert _names(store, names) == set(names) & set(NAMES)
    assert _ids(store, ids) == set(ids) & set(range(1, len(NAMES) + 1))
