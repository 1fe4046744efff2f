"""The dashboard's unreadable values page: the count, each value's record, field, raw text and
problem, escaped; behind the token like every other page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from leadsync.records import ActivityRecord, PersonRecord, RecordRef, UnreadableValue
from leadsync.store import Store
from leadsync.store.ingest import upsert_activities, upsert_people
from tests.service.helpers import Harness, open_test_store

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
HTML = {"Accept": "text/html,application/xhtml+xml"}
TOKEN = "dashboard-token-0123456789"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store: Store = open_test_store(tmp_path)
    yield Harness(store)
    store.close()


def test_the_page_lists_each_unreadable_value_escaped(harness: Harness) -> None:
    lead = RecordRef("salesforce", "Lead", "00Q000000000001AAA")
    form = RecordRef("salesforce", "Form_Submission__c", "a0F000000000001AAA")
    script = "<script>alert(1)</script>"
    with harness.store.transaction() as conn:
        upsert_people(
            conn,
            [
                PersonRecord(
                    lead,
                    "ann@acme.example",
                    T0,
                    unreadable=(UnreadableValue(lead, "Status", script, "not text; left empty"),),
                )
            ],
            T0,
        )
        note = UnreadableValue(form, "Submitted_At__c", "yesterday", "not a date-time")
        upsert_activities(
            conn,
            [ActivityRecord(form, "form_submission", T0, T0, deleted=True, unreadable=(note,))],
            T0,
        )
    with TestClient(harness.app()) as client:
        page = client.get("/unreadable", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "2 now" in text
    assert "a0F000000000001AAA" in text and "Submitted_At__c" in text and "yesterday" in text
    assert script not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Nothing unreadable" not in text


def test_the_page_is_behind_the_token(harness: Harness) -> None:
    with TestClient(harness.app(token=TOKEN)) as client:
        refused = client.get("/unreadable", headers=HTML, follow_redirects=False)
        assert refused.status_code in (303, 401)
        allowed = client.get("/unreadable", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200 and "Nothing unreadable" in allowed.text
