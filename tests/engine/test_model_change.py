"""A model change reaches everyone, and two models never mix (issue 22 #7).

After a config change, ``sync`` used to re-score only the people whose inputs changed (8 of
382), leaving the rest with the old model in the store and the CRM, a dry run showed nothing,
and replicas with different files mixed two models. The store now records the model (a
fingerprint of the model's config) it is scored with; another model refuses to write until it
is adopted (``leadsync rescore``), which re-scores everyone from the store.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.config import settings_from_dict
from leadsync.engine.cycle import SyncEngine
from leadsync.engine.request import CycleRequest
from leadsync.errors import ModelMismatch
from leadsync.store import Store
from leadsync.store.model_state import scored_with
from leadsync.store.schema import runs, scores
from leadsync.wiring import build_engine, model_fingerprint
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
INDUSTRIES = ("Manufacturing", "Retail", "Software", "Mining")


def config(good_fit_min: int) -> dict[str, Any]:
    return {
        "icp": {
            "good_fit_min": good_fit_min,
            "criteria": [
                {"name": "Industry", "attribute": "industry", "operator": "one_of",
                 "values": ["Manufacturing", "Software"]},
                {"name": "Size", "attribute": "employees", "operator": "at_least", "min": 100},
            ],
        },
    }  # fmt: skip


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


@pytest.fixture
def crm() -> MemoryCRM:
    crm = MemoryCRM()
    for i in range(40):
        crm.add_person(
            f"L{i}", f"p{i}@acme{i}.com", industry=INDUSTRIES[i % 4], employees=50 + 40 * i
        )
    return crm


def engine(store: Store, crm: MemoryCRM, good_fit_min: int) -> SyncEngine:
    settings = settings_from_dict(config(good_fit_min), "test")
    connector = MemoryConnector(crm, "salesforce")
    return build_engine(settings, store, {"salesforce": connector}, clock=lambda: NOW)


def fits(crm: MemoryCRM) -> dict[str, str]:
    return {pid: values["fit"] for pid, values in crm.fields.items()}


def test_another_model_refuses_to_write_until_adopted_then_reaches_everyone(
    store: Store, crm: MemoryCRM
) -> None:
    strict = engine(store, crm, good_fit_min=2)
    assert strict.run().status == "ok"
    before = fits(crm)
    assert set(before.values()) == {"good", "poor"}

    loose = engine(store, crm, good_fit_min=1)
    with pytest.raises(ModelMismatch, match="leadsync rescore"):
        loose.run()
    assert fits(crm) == before  # nothing written with the other model
    with store.reading() as conn:
        last = conn.execute(sa.select(runs).order_by(runs.c.id.desc())).first()
        assert last is not None and last.status == "failed" and "refused" in (last.error or "")

    # The dry run shows the whole effect, not only the people whose inputs changed.
    preview = loose.run(CycleRequest(dry_run=True))
    assert preview.model["store"] != preview.model["fingerprint"]
    assert fits(crm) == before

    connector = loose.connectors["salesforce"]
    assert isinstance(connector, MemoryConnector)
    pulls = connector.pages_read
    adopted = loose.run(CycleRequest(rescore=True, adopt_model=True))
    assert adopted.status == "ok"
    # Nothing pulled again. Only others' edits since the last poll are looked for before the
    # rescore writes over them (one page: the overlap behind the cursor), and none found.
    assert connector.pages_read - pulls <= 1
    assert all(c["inserted"] == c["updated"] == 0 for c in adopted.pulled.values())
    flips = sum(1 for pid, fit in fits(crm).items() if fit != before[pid])
    assert flips > 10 and preview.would_write["per_field"]["fit"] == flips
    assert adopted.written == {"salesforce": flips}
    fingerprint = loose.settings.model
    with store.reading() as conn:
        current = scored_with(conn)
        assert current is not None and current.fingerprint == fingerprint
        models = set(conn.execute(sa.select(scores.c.model)).scalars())
    assert models == {fingerprint}

    # The replica still on the old file now refuses, and a second adoption writes nothing.
    with pytest.raises(ModelMismatch):
        strict.run()
    assert loose.run(CycleRequest(rescore=True, adopt_model=True)).written == {}


def test_the_fingerprint_is_the_models_not_the_files() -> None:
    text = """
[icp]
good_fit_min = 1
criteria = [{ name = "Industry", attribute = "industry", operator = "one_of", values = ["Retail"] }]

[sync]
interval_seconds = 60
"""
    shuffled = """
# the same model, written another way
[sync]
interval_seconds = 900

[icp]
criteria = [{ values = ["Retail"], operator = "one_of", attribute = "industry", name = "Industry" }]
good_fit_min = 1
"""
    one = settings_from_dict(tomllib.loads(text), "a")
    two = settings_from_dict(tomllib.loads(shuffled), "b")
    assert model_fingerprint(one) == model_fingerprint(two)
    wider = text.replace('values = ["Retail"] }', 'values = ["Retail", "Mining"] }')
    other = settings_from_dict(tomllib.loads(wider), "c")
    assert model_fingerprint(other) != model_fingerprint(one)
