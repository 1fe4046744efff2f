"""/healthz, /readyz, /metrics and bearer-token auth of the service app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from jobs.runner import CycleOutcome
from leadsync.engine.cycle import CycleReport
from leadsync.service.app import ServiceParts, build_app
from leadsync.service.webhook import HubSpotWebhook
from leadsync.store import Store
from leadsync.store.runs import finish_run, start_run
from tests.service.helpers import SECRET, START, Harness, open_test_store

TOKEN = "service-token-0123456789"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_test_store(tmp_path)
    yield store
    store.close()


@pytest.fixture
def harness(store: Store) -> Harness:
    return Harness(store)


def _run(
    store: Store,
    connector: str,
    status: str = "ok",
    minutes: int = 1,
    error: str | None = None,
    **counts: object,
) -> None:
    """A finished cycle in the runs table, as the engine records it."""
    finished = START + timedelta(minutes=minutes)
    with store.transaction() as conn:
        run_id = start_run(conn, connector, "sync", finished - timedelta(seconds=3))
        if status != "ok" and error is None:
            error = f"{connector}: 401 token refused; check access_token"
        finish_run(
            conn,
            run_id,
            finished,
            status=status,
            counts={"errors": [error] if error else [], **counts},
            api_calls=3,
            error=error,
        )


def _outcome(
    connector: str, status: str = "ok", minutes: int = 1, **report: object
) -> CycleOutcome:
    finished = START + timedelta(minutes=minutes)
    return CycleOutcome(
        connector=connector,
        status=status,
        started_at=finished - timedelta(seconds=3),
        finished_at=finished,
        duration_seconds=3.0,
        errors=("hubspot: 401 token refused; check access_token",) if status == "failed" else (),
        report=CycleReport(run_id=1, status=status, **report),  # type: ignore[arg-type]
    )


def test_healthz_is_always_ok(harness: Harness) -> None:
    with TestClient(harness.app()) as client:
        assert client.get("/healthz").json() == {"status": "ok", "role": "leader"}


def test_a_standby_says_so_and_is_ready_while_the_leaders_cycles_are_fresh(
    harness: Harness,
) -> None:
    harness.role = "standby"
    with harness.store.transaction() as conn:
        for connector, minutes in (("salesforce", 2), ("hubspot", 9)):
            run_id = start_run(conn, connector, "sync", START + timedelta(minutes=minutes))
            counts = {"errors": [], "auth_failed": []}
            finish_run(
                conn,
                run_id,
                START + timedelta(minutes=minutes, seconds=5),
                status="ok",
                counts=counts,
                api_calls=3,
            )
    harness.now[0] = START + timedelta(minutes=12)
    with TestClient(harness.app()) as client:
        assert client.get("/healthz").json()["role"] == "standby"
        answer = client.get("/readyz")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["role"] == "standby"
        assert "last good cycle 595 s ago" in body["checks"]["salesforce.freshness"]["detail"]
        # The leader stopped cycling: a standby reading the store turns unready too.
        harness.now[0] = START + timedelta(minutes=20)
        stale = client.get("/readyz")
    assert stale.status_code == 503
    assert not stale.json()["checks"]["salesforce.freshness"]["ok"]
    assert stale.json()["checks"]["hubspot.freshness"]["ok"]


def test_a_standby_blames_refused_credentials_seen_by_the_leader(harness: Harness) -> None:
    harness.role = "standby"
    with harness.store.transaction() as conn:
        run_id = start_run(conn, "hubspot", "sync", START)
        counts = {"errors": ["hubspot: 401 token refused"], "auth_failed": ["hubspot"]}
        finish_run(conn, run_id, START, status="failed", counts=counts, api_calls=1)
    with TestClient(harness.app()) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "401 token refused" in answer.json()["checks"]["hubspot.credentials"]["detail"]


def test_ready_when_store_answers_and_cycles_are_fresh(harness: Harness) -> None:
    _run(harness.store, "salesforce")
    harness.now[0] = START + timedelta(minutes=10)
    with TestClient(harness.app()) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    checks = answer.json()["checks"]
    assert checks["store"]["ok"] and checks["hubspot.freshness"]["ok"]
    assert "no good cycle since the service started" in checks["hubspot.freshness"]["detail"]


def test_unready_when_the_last_good_cycle_is_older_than_three_intervals(
    harness: Harness,
) -> None:
    _run(harness.store, "salesforce", minutes=1)
    _run(harness.store, "hubspot", minutes=14)
    harness.now[0] = START + timedelta(minutes=17)
    with TestClient(harness.app()) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert not checks["salesforce.freshness"]["ok"]
    assert "limit 900 s" in checks["salesforce.freshness"]["detail"]
    assert checks["hubspot.freshness"]["ok"]


def test_unready_when_the_last_cycle_was_refused(harness: Harness) -> None:
    _run(harness.store, "hubspot", status="failed", auth_failed=["hubspot"])
    with TestClient(harness.app()) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "token refused" in answer.json()["checks"]["hubspot.credentials"]["detail"]


def test_failed_cycles_in_a_row_turn_it_unready_without_blaming_credentials(
    harness: Harness,
) -> None:
    """Issue 21 #4: a cycle that crashed used to be recorded ok and /readyz stayed 200."""
    harness.now[0] = START + timedelta(minutes=4)
    _run(harness.store, "hubspot", minutes=1)
    _run(harness.store, "hubspot", status="failed", minutes=2, error="cycle crashed: KeyError")
    with TestClient(harness.app()) as client:
        one = client.get("/readyz")
        assert one.status_code == 200, one.text  # one failure may be a passing blip
        assert "1 failed cycle(s) in a row" in one.json()["checks"]["hubspot.last_cycle"]["detail"]
        _run(harness.store, "hubspot", status="partial", minutes=3, error="hubspot: 503",
             failed_connectors={"hubspot": "hubspot: 503"})  # fmt: skip
        two = client.get("/readyz")
    assert two.status_code == 503
    checks = two.json()["checks"]
    assert checks["hubspot.credentials"]["ok"]
    assert (
        not checks["hubspot.last_cycle"]["ok"]
        and "hubspot: 503" in (checks["hubspot.last_cycle"]["detail"])
    )
    assert checks["salesforce.last_cycle"]["ok"]


def test_a_partial_cycle_blames_only_the_connector_that_failed(harness: Harness) -> None:
    for minute in (1, 2):
        _run(harness.store, "salesforce+hubspot", status="partial", minutes=minute,
             error="hubspot: 503", failed_connectors={"hubspot": "hubspot: 503"})  # fmt: skip
    with TestClient(harness.app()) as client:
        checks = client.get("/readyz").json()["checks"]
    assert checks["salesforce.last_cycle"]["ok"] and not checks["hubspot.last_cycle"]["ok"]


def test_unready_when_the_store_is_unreachable(harness: Harness, tmp_path: Path) -> None:
    harness.store.engine.dispose()
    harness.store.engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with TestClient(harness.app()) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    store = answer.json()["checks"]["store"]
    assert not store["ok"] and "store unreachable: OperationalError" in store["detail"]


def test_metrics_count_cycles_records_api_usage_and_durations(harness: Harness) -> None:
    harness.usage["salesforce"].calls = 42
    harness.usage["salesforce"].remaining = 14_958
    harness.usage["salesforce"].limit = 15_000
    harness.metrics.observe(
        _outcome(
            "salesforce",
            pulled={
                "salesforce.people": {"inserted": 10, "updated": 2, "unchanged": 3},
                "salesforce.activities": {"inserted": 5, "updated": 0, "unchanged": 0},
            },
            written={"salesforce": 9, "hubspot": 4},
            rejected={"salesforce": 1},
        )
    )
    harness.metrics.observe(_outcome("hubspot", status="failed"))
    with TestClient(harness.app()) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    sf, hs = (("connector", "salesforce"),), (("connector", "hubspot"),)
    assert samples[("leadsync_cycles_total", (("connector", "salesforce"), ("status", "ok")))] == 1
    assert samples[("leadsync_cycles_total", (("connector", "hubspot"), ("status", "failed")))] == 1
    assert samples[("leadsync_records_pulled_total", sf)] == 20
    assert samples[("leadsync_records_pulled_total", hs)] == 0
    assert samples[("leadsync_records_written_total", sf)] == 9
    assert samples[("leadsync_records_written_total", hs)] == 4
    assert samples[("leadsync_records_rejected_total", sf)] == 1
    assert samples[("leadsync_api_calls_total", sf)] == 42
    assert samples[("leadsync_api_remaining", sf)] == 14_958
    assert samples[("leadsync_api_limit", sf)] == 15_000
    assert ("leadsync_api_remaining", hs) not in samples
    assert samples[("leadsync_cycle_duration_seconds_count", sf)] == 1
    assert samples[("leadsync_cycle_duration_seconds_sum", sf)] == 3.0
    le_5 = (("connector", "salesforce"), ("le", "5.0"))
    assert samples[("leadsync_cycle_duration_seconds_bucket", le_5)] == 1


def test_metrics_registries_are_independent(store: Store) -> None:
    first, second = Harness(store), Harness(store)
    first.metrics.observe(_outcome("salesforce"))
    assert (
        b'leadsync_cycles_total{connector="salesforce",status="ok"} 1.0' in first.metrics.render()
    )
    assert b"leadsync_cycles_total{" not in second.metrics.render()


def test_token_guards_everything_but_probes_and_webhook(harness: Harness) -> None:
    with TestClient(harness.app(token=TOKEN)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert client.get("/elsewhere").status_code == 401
        # The webhook authenticates by HubSpot's signature, not the bearer token.
        assert client.post("/hooks/hubspot", content=b"[]").status_code == 401
        assert harness.metrics.webhooks.labels("rejected")._value.get() == 1


def test_without_a_token_nothing_asks_for_one(harness: Harness) -> None:
    with TestClient(harness.app()) as client:
        assert client.get("/metrics").status_code == 200


def test_only_the_webhook_path_and_method_skip_the_token(harness: Harness) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(harness.app(token=TOKEN), follow_redirects=False) as client:
        # The exemption is for POST to exactly the webhook path: nothing near it, no other
        # method, no trailing slash, no path that only starts like the login page.
        for method, path in [
            ("GET", "/hooks/hubspot"),
            ("PUT", "/hooks/hubspot"),
            ("POST", "/hooks/hubspot/"),
            ("POST", "/hooks/hubspotx"),
            ("GET", "/hooks/hubspot/x"),
            ("GET", "/loginx"),
            ("GET", "/login/../metrics"),
            ("GET", "/healthz/x"),
            ("POST", "/healthz"),
            ("GET", "/staticx"),
        ]:
            answer = client.request(method, path)
            assert answer.status_code == 401, (method, path, answer.status_code)
        assert client.request("GET", "/hooks/hubspot", headers=bearer).status_code == 405
        assert client.post("/hooks/hubspot", content=b"[]").status_code == 401  # unsigned
        assert client.get("/login").status_code == 200
        assert client.head("/healthz").status_code == 200
        assert client.get("/static/dashboard.css").status_code == 200


@pytest.mark.parametrize("path", ["/", "/metrics", "/static/x", "/hooks?x"])
def test_the_app_refuses_a_webhook_path_that_takes_over_a_page(harness: Harness, path: str) -> None:
    # The config refuses these paths; the app refuses them too when built by hand.
    webhook = HubSpotWebhook(SECRET, lambda events: True, harness.metrics)
    parts = ServiceParts(
        store=harness.store,
        connectors=["hubspot"],
        interval=timedelta(minutes=5),
        cycles=harness.cycles,
        metrics=harness.metrics,
        webhook=webhook,
        webhook_path=path,
    )
    with pytest.raises(ValueError, match="webhook_path"):
        build_app(parts)
