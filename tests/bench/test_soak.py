"""The soak with chaos, short: half a minute of two ``leadsync run`` replicas on PostgreSQL under
traffic and every fault kind (leader SIGKILL included) but the server restart, then zero
discrepancies in the sandboxes' state, the model recomputed from their full activity history
included. The full run is ``python bench/soak.py`` (``bench/soak.md``).

The PostgreSQL server restart stays in the bench (``--pg-restart``): it passed here, but the
full suite was not verified after it, and a restart cuts every session on the server, so a
test run would break any benchmark running on the same server at the time (see soak.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SoakOptions, _slope, run_soak
from tests.conftest import fresh_store_url

FAULT_KINDS = {
    "salesforce.expired_session",
    "hubspot.invalid_token",
    "salesforce.rate_limit",
    "hubspot.rate_limit_429",
    "salesforce.http_5xx",
    "hubspot.http_5xx",
    "salesforce.unable_to_lock_row",
    "salesforce.record_rejection",
    "hubspot.record_rejection",
    "salesforce.slow_response",
    "hubspot.slow_response",
    "salesforce.timeout",
    "hubspot.timeout",
    "postgresql.connections_killed",
    "leader.sigkill",
}


def test_rss_slope_is_mib_per_minute() -> None:
    assert _slope([(0.0, 100.0), (60.0, 102.0), (120.0, 104.0)]) == 2.0
    assert _slope([(0.0, 100.0), (60.0, 100.0)]) is None


@pytest.mark.slow
@pytest.mark.postgres
# Convergence takes 15-50 s; its 150 s limit ends inside this one, so a soak that does not
# converge fails with what it still owes and the replicas' last log lines.
@pytest.mark.timeout(420)
def test_half_a_minute_of_chaos_loses_nothing(tmp_path: Path) -> None:
    # Every fault kind within the first 15 s, then 15 s more of traffic, so the 10 s cycles
    # meet most faults before they are cleared. Spread over 85 % as in the bench, half a
    # minute met few (they bunch up behind the kill); a minute met a few more than this but
    # took twice as long, and its last faults were cleared unmet too.
    options = SoakOptions(
        minutes=0.5, leads=300, hand_raisers=4, converge_timeout_s=150, faults_within=0.5
    )
    for url in fresh_store_url("postgresql", tmp_path):
        result = run_soak(url, options)
    print(result)
    assert result["discrepancies"] == {
        "model": 0,
        "handoffs": 0,
        "recycles": 0,
        "writes": 0,
        "recompute": 0,
        "activities": 0,
    }, result["discrepancy_samples"]
    recomputed = result["model_recompute"]
    # The model was recomputed for nearly everyone, and every exclusion is explained.
    assert recomputed["people_checked"] >= 0.9 * recomputed["people"], recomputed
    assert sum(recomputed["exclusions"].values()) == len(recomputed["excluded"])
    assert set(recomputed["exclusions"]) <= {
        "lead under legal hold: the org's validation rule refuses every edit"
    }, recomputed["excluded"]
    store = recomputed["store"]
    assert store["crm_activities"] > 0 and store["lost"] == store["doubled"] == 0, store
    assert set(result["faults_injected"]) == FAULT_KINDS
    (kill,) = [e for e in result["fault_events"] if e["fault"] == "leader.sigkill"]
    assert kill["killed"] != kill["new_leader"]
    assert sorted(result["roles_at_end"].values()) == ["leader", "standby"]
    assert result["exit_codes"] == [0, 0]
    held = result["traffic_held"]
    assert held["salesforce.new_leads"] > 0 and held["hubspot.form_submission"] > 0
    assert result["records"]["leadsync_tasks"] > 0
    # A hand-raiser sales converts before the hand-off lands gets no task (the owner change
    # is refused: CANNOT_UPDATE_CONVERTED_LEAD, bench/soak.md), so not every submission has
    # to be seen; each one that is not is explained from the org and the store.
    speed = result["speed_to_lead"]
    assert speed["tasks_seen"] > 0
    assert len(speed["no_task"]) == speed["submitted"] - speed["tasks_seen"]
