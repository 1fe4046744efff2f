"""Webhook state shared by replicas: replayed event ids and records handed to the leader."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from jobs.handover import HandoverJob
from leadsync.records import RecordRef
from leadsync.store import Store
from leadsync.store.webhooks import REMEMBER, StoredEventIds, hand_over, take_handed_over

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def test_an_event_id_one_replica_accepted_is_a_replay_at_another(store_url: str) -> None:
    first, second = Store(store_url), Store(store_url)
    try:
        a, b = StoredEventIds(first), StoredEventIds(second)
        assert a.claim(["e1", "e2"], NOW) == []
        assert b.claim(["e3", "e2"], NOW) == ["e2"]
        # A refused delivery records none of its ids.
        assert a.claim(["e3"], NOW) == []
        # Remembered for ten minutes, then forgotten (HubSpot refuses older signatures anyway).
        assert b.claim(["e1"], NOW + REMEMBER - timedelta(seconds=1)) == ["e1"]
        assert b.claim(["e1"], NOW + REMEMBER + timedelta(seconds=1)) == []
    finally:
        first.close()
        second.close()


def test_records_handed_over_are_taken_once_by_connector(store: Store) -> None:
    one, two = RecordRef("hubspot", "contact", "1"), RecordRef("hubspot", "contact", "2")
    with store.transaction() as conn:
        assert hand_over(conn, [one, two, one], NOW) == 2
        assert hand_over(conn, [two], NOW) == 0
    triggered: list[tuple[str, list[RecordRef]]] = []
    job = HandoverJob(store, lambda c, refs: triggered.append((c, list(refs))) or True, ["hubspot"])
    assert job.run() == 2
    assert [(c, sorted(refs)) for c, refs in triggered] == [("hubspot", [one, two])]
    assert job.run() == 0
    with store.transaction() as conn:
        assert take_handed_over(conn) == {}
