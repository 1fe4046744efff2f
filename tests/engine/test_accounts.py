"""Account roll-up through the engine with the real model: the buying group counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from leadsync.config import settings_from_dict
from leadsync.store import Store
from leadsync.wiring import build_engine
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)

CONFIG: dict[str, Any] = {
    "icp": {
        "good_fit_min": 2,
        "criteria": [
            {"name": "Manufacturing", "attribute": "industry", "operator": "one_of",
             "values": ["Manufacturing"]},
            {"name": "Buying group", "attribute": "account_engaged_people",
             "operator": "at_least", "min": 2},
        ],
    },
    "engagement": {"engaged_threshold": 50},
    "accounts": {"enabled": True, "key": "email_domain"},
}  # fmt: skip


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def test_engaged_colleagues_make_the_account_a_good_fit(store: Store) -> None:
    crm = MemoryCRM()
    for pid, email in (("A", "ann@acme.com"), ("B", "bob@acme.com"), ("C", "cy@acme.com")):
        crm.add_person(pid, email, industry="Manufacturing")
    crm.add_person("G", "gil@gmail.com", industry="Manufacturing")  # free mail: no account
    crm.add_activity("f1", "A", "form_submission", "Contact Us")
    connector = MemoryConnector(crm)
    settings = settings_from_dict(CONFIG, "test")
    engine = build_engine(settings, store, {"mem": connector}, clock=lambda: NOW)

    engine.run()
    assert crm.fields["C"]["engaged_people"] == 1 and crm.fields["C"]["fit"] == "poor"
    assert "engaged_people" not in crm.fields["G"]

    # a second colleague engages: the whole account crosses the buying-group bar
    crm.add_activity("f2", "B", "form_submission", "Contact Us")
    report = engine.run()
    group_score = crm.fields["A"]["score"] + crm.fields["B"]["score"]  # both decayed a little
    assert group_score > 190
    for pid in ("A", "B", "C"):
        assert crm.fields[pid]["engaged_people"] == 2
        assert crm.fields[pid]["account_score"] == group_score
        assert crm.fields[pid]["fit"] == "good"
    assert sorted(crm.write_log[-1]) == ["A", "B", "C"] and report.written == {"mem": 3}
    assert engine.run().written == {}  # settled: nothing more to write
