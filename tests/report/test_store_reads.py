"""The report reads the store through its named queries, and sees what scoring sees."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadsync.engine.scoring import to_activities
from leadsync.model import Activity
from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from leadsync.report import dataset as dataset_module
from leadsync.report import leads_from_store
from leadsync.store import Store
from leadsync.store.history import histories
from leadsync.store.ingest import upsert_activities, upsert_people
from leadsync.store.scoring import load_inputs
from tests.report.history import GOOD, settings

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KINDS = ("form_submission", "campaign_member", "email_open", "page_view", "unsubscribe")


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _activities(rng: random.Random, lead: RecordRef, n: int) -> list[ActivityRecord]:
    """Activities over a fortnight, each with a random precision (exact, a day, or wider)."""
    return [
        ActivityRecord(
            RecordRef(lead.source, "Activity", f"{lead.external_id}-{i}"),
            rng.choice(KINDS),
            T0 + timedelta(seconds=rng.randrange(14 * 86_400)),
            T0,
            person=lead,
            name=rng.choice(("Request a demo", "Newsletter", "Spring Webinar")),
            early_s=rng.choice((0, 93_600, rng.randrange(10**6))),
            late_s=rng.choice((0, 86_400, rng.randrange(10**6))),
        )
        for i in range(n)
    ]


def test_the_report_scores_the_activities_scoring_does_precision_included(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the report built its activities from its own query and dropped ``early_s``
    and ``late_s``: its leads were read from other activities than the scorer's."""
    rng = random.Random(26)
    leads = [RecordRef("sf", "Lead", f"00Q{i}") for i in range(6)]
    sent: list[ActivityRecord] = []
    with store.transaction() as conn:
        upsert_people(
            conn, [PersonRecord(r, f"p{i}@acme.com", T0) for i, r in enumerate(leads)], T0
        )
        for lead in leads:
            sent += _activities(rng, lead, rng.randrange(1, 12))
        upsert_activities(conn, sent, T0)
    seen: list[Activity] = []
    real = dataset_module.lead_features

    def spy(*args: Any) -> Any:
        acts: Sequence[Activity] = args[3]
        seen.extend(acts)
        return real(*args)

    monkeypatch.setattr(dataset_module, "lead_features", spy)
    spec = settings(GOOD, store.url).model_spec()
    with store.reading() as conn:
        ds = leads_from_store(
            conn, spec, fit_source=None, cycle_days=90, now=T0 + timedelta(days=200)
        )
        scored = [
            a for inputs in load_inputs(conn, list(range(1, 7))) for a in to_activities(inputs)
        ]
    assert len(ds.leads) == len(leads)
    assert {a.id: (a.early_s, a.late_s) for a in seen} == {
        str(r.ref): (r.early_s, r.late_s) for r in sent
    }
    assert sorted(seen, key=lambda a: a.id) == sorted(scored, key=lambda a: a.id)


def test_a_person_whose_records_are_all_gone_is_read_from_the_records_they_had(
    store: Store,
) -> None:
    """Scoring skips them (no live record); the report still reads their record (its
    conversion, first score and source count)."""
    lead = RecordRef("sf", "Lead", "00Q1")
    with store.transaction() as conn:
        upsert_people(conn, [PersonRecord(lead, "gone@acme.com", T0, {"industry": "Retail"})], T0)
        upsert_people(
            conn, [PersonRecord(lead, "gone@acme.com", T0 + timedelta(days=1), deleted=True)], T0
        )
    with store.reading() as conn:
        (found,) = list(histories(conn))
        assert load_inputs(conn, [found.inputs.person_id]) == []
    assert [r.uid for r in found.inputs.records] == [str(lead)]
    assert found.inputs.email == "gone@acme.com"
    assert found.inputs.activities == ()  # a deleted record's activities went with it
