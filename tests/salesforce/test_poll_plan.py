"""When a running Bulk ingest job is polled: each poll is an API call, each late poll is time."""

from __future__ import annotations

import pytest
import responses

from connectors.salesforce import client as client_module
from connectors.salesforce.client import RunningIngest
from connectors.salesforce.connector import SalesforceConnector

from .conftest import API


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(client_module.time, "monotonic", clock)
    return clock


def _status(rsps: responses.RequestsMock, job: str, state: str, **counts: int) -> None:
    rsps.add(responses.GET, f"{API}/jobs/ingest/{job}", json={"state": state, **counts})


def _polls(rsps: responses.RequestsMock) -> list[str]:
    return [str(c.request.url) for c in rsps.calls if "/jobs/ingest/" in str(c.request.url)]


def _running(connector: SalesforceConnector, job: str, records: int) -> RunningIngest:
    client = connector.client
    watch = client._watch(job, False, records, client_module.time.monotonic())
    return RunningIngest(client._bulk("Lead"), records, watch)


def _b_sent_while_a_ran_fast(
    rsps: responses.RequestsMock, connector: SalesforceConnector, clock: Clock
) -> RunningIngest:
    """Job B (1,000,000 rows) is sent while job A (100,000) runs; A is polled after 5 s and
    has run 200,000 rows/s. Returns B, not yet polled."""
    a = _running(connector, "750A", 100_000)
    b = _running(connector, "750B", 1_000_000)
    assert b.watch.wait() == pytest.approx(50.0)  # a quarter of 200 s at the starting guess
    clock.now += 5.0
    _status(
        rsps, "750A", "JobComplete",
        numberRecordsProcessed=100_000, numberRecordsFailed=0, totalProcessingTime=500,
    )  # fmt: skip
    assert connector.client.poll_update(a) is not None
    return b


def test_before_any_job_finished_the_first_poll_comes_at_a_quarter_of_the_guess(
    rsps: responses.RequestsMock, connector: SalesforceConnector, clock: Clock
) -> None:
    """100,000 rows at the starting guess of 5,000/s is 20 s: the first poll is due after 5 s
    (an org that runs 40,000 rows/s was done long before 20 s), the second at 20 s."""
    job = _running(connector, "750A", 100_000)
    assert job.watch.wait() == pytest.approx(5.0)
    clock.now += 4.9
    assert connector.client.poll_update(job) is None
    assert not _polls(rsps)  # not due: no call
    clock.now += 0.1
    _status(rsps, "750A", "InProgress", numberRecordsProcessed=40_000)
    assert connector.client.poll_update(job) is None
    assert job.watch.due == pytest.approx(1_020.0)
    clock.now = 1_020.0
    _status(
        rsps, "750A", "JobComplete",
        numberRecordsProcessed=100_000, numberRecordsFailed=0, totalProcessingTime=8_000,
    )  # fmt: skip
    result = connector.client.poll_update(job)
    assert result is not None and result.all_succeeded
    assert len(_polls(rsps)) == 2


def test_a_job_sent_before_the_rate_was_learned_is_polled_on_the_learned_rate(
    rsps: responses.RequestsMock, connector: SalesforceConnector, clock: Clock
) -> None:
    """Job B (1,000,000 rows) was sent while job A ran, so its first poll was planned on the
    starting guess: 50 s. A finishes having run 200,000 rows/s; B is then due when the learned
    rate (0.5 x 5,000 + 0.5 x 0.8 x 200,000 = 82,500/s) has it done: after 12.1 s."""
    b = _b_sent_while_a_ran_fast(rsps, connector, clock)
    clock.now += 7.0
    assert connector.client.poll_update(b) is None  # 12 s in: not yet due, no call
    assert len(_polls(rsps)) == 1  # A's
    clock.now += 0.3  # due at 12.1 s, and never sooner than 0.25 s after it was planned
    _status(
        rsps, "750B", "JobComplete",
        numberRecordsProcessed=1_000_000, numberRecordsFailed=0, totalProcessingTime=6_000,
    )  # fmt: skip
    assert connector.client.poll_update(b) is not None


def test_await_poll_sleeps_until_the_replanned_poll(
    rsps: responses.RequestsMock,
    connector: SalesforceConnector,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer's wait between polls uses the re-planned time, not the first guess."""
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    b = _b_sent_while_a_ran_fast(rsps, connector, clock)
    connector.client.await_poll([b])
    assert slept == [pytest.approx(1_000_000 / 82_500 - 5.0)]
