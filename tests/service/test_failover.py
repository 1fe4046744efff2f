"""Two real ``leadsync run`` replicas on one PostgreSQL store: one leads, the other stands by;
the leader killed with SIGKILL is replaced within the lease, cycles go on, and no two cycles
ever ran at once (read back from the runs table)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import tomli_w

from leadsync.sandboxes import running_sandboxes
from leadsync.store.schema import backfill_requests, runs, webhook_records
from tests.conftest import fresh_store_url
from tests.service.helpers import (
    RUN,
    contact_event,
    free_port,
    hubspot_delivery,
    start_service,
)

LEASE_SECONDS = 2.0
QUEUE_ARGS = ("--no-actions", "--json")


def _role(base: str) -> str | None:
    try:
        return str(httpx.get(f"{base}/healthz", timeout=2).json()["role"])
    except httpx.TransportError:
        return None


def _wait_for(predicate: Callable[[], bool], timeout: float, *procs: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            assert proc.poll() is None, f"leadsync run exited early: {proc.returncode}"
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _runs(url: str) -> list[sa.Row[tuple[object, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(runs).order_by(runs.c.started_at)))
    finally:
        engine.dispose()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[str, Path, Path, str, str, str]]:
    """Two configs sharing one fresh PostgreSQL store, on two ports."""
    for url in fresh_store_url("postgresql", tmp_path):
        with running_sandboxes(leads=200, seed=11) as world:
            bases, paths = [], []
            for name in ("a", "b"):
                data = world.config_data(url)
                port = free_port()
                data["sync"] = {"interval_seconds": 10, "overlap_seconds": 5}
                data["service"] = {"host": "127.0.0.1", "port": port, "webhook_path": "/hooks"}
                path = tmp_path / f"{name}.toml"
                path.write_text(tomli_w.dumps(data))
                os.chmod(path, 0o600)
                bases.append(f"http://127.0.0.1:{port}")
                paths.append(path)
            yield url, paths[0], paths[1], bases[0], bases[1], world.hubspot.client_secret


@pytest.mark.slow
@pytest.mark.postgres
def test_the_standby_takes_over_within_the_lease_and_cycles_never_overlap(
    replicas: tuple[str, Path, Path, str, str, str], tmp_path: Path
) -> None:
    url, config_a, config_b, base_a, base_b, secret = replicas
    lease = ("--lease", str(LEASE_SECONDS))
    a = start_service(config_a, tmp_path, *lease)
    procs = [a]
    try:
        _wait_for(lambda: _role(base_a) == "leader", 60, a)
        _wait_for(
            lambda: (
                {r.connector for r in _runs(url) if r.status == "ok"}
                >= {
                    "salesforce",
                    "hubspot",
                }
            ),
            90,
            a,
        )
        b = start_service(config_b, tmp_path, *lease)
        procs.append(b)
        _wait_for(lambda: _role(base_b) is not None, 60, a, b)
        time.sleep(LEASE_SECONDS * 2)
        assert (_role(base_a), _role(base_b)) == ("leader", "standby")
        ready = httpx.get(f"{base_b}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["role"] == "standby"
        # A standby takes webhooks (HubSpot must get its 200) without running a cycle.
        body, headers = hubspot_delivery(f"{base_b}/hooks", [contact_event(5)], secret=secret)
        answer = httpx.post(f"{base_b}/hooks", content=body, headers=headers, timeout=5)
        assert answer.status_code == 200 and answer.json()["cycle"] == "pending"
        # The same delivery replayed at the leader is refused: the ids are in the shared store.
        replay = httpx.post(f"{base_a}/hooks", content=body, headers=headers, timeout=5)
        assert replay.status_code == 401
        # The standby left the contact for the leader, which takes it within seconds.
        _wait_for(lambda: _count(url, webhook_records) == 0, 15, a, b)

        # Ask the leader for a cycle and kill it while that cycle is (most likely) running.
        body, headers = hubspot_delivery(f"{base_a}/hooks", [contact_event(6)], secret=secret)
        asked_at = datetime.now(UTC)
        httpx.post(f"{base_a}/hooks", content=body, headers=headers, timeout=5)
        # Kill once the asked-for cycle has begun (it may be running or just finished).
        _wait_for(lambda: any(r.started_at > asked_at for r in _runs(url)), 30, a)
        killed_at = datetime.now(UTC)
        began = time.monotonic()
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        _wait_for(lambda: _role(base_b) == "leader", LEASE_SECONDS + 5, b)
        takeover = time.monotonic() - began
        print(f"failover: standby leading {takeover:.2f} s after SIGKILL (lease {LEASE_SECONDS} s)")
        assert takeover <= LEASE_SECONDS + 1.0

        def cycled_after_kill() -> bool:
            done = [r for r in _runs(url) if r.status == "ok" and r.started_at > killed_at]
            return {r.connector for r in done} >= {"salesforce", "hubspot"}

        _wait_for(cycled_after_kill, 60, b)
        # Cycles go on at the interval under the new leader.
        count = len(_runs(url))
        _wait_for(lambda: len(_runs(url)) >= count + 2, 30, b)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert b.returncode == 0, outputs[1][-3000:]
    assert '"webhook.handover_taken"' in outputs[0], outputs[0][-3000:]

    _assert_no_overlap(url, killed_at, at_least=6)


def _count(url: str, table: sa.Table) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def _assert_no_overlap(url: str, killed_at: datetime, at_least: int) -> None:
    """No two cycles ever ran at once. A cycle the leader was in when killed ends, at the
    latest, at the kill; the next leader marks it interrupted when it starts that connector."""
    intervals = []
    for row in _runs(url):
        end = row.finished_at
        if row.status in ("running", "interrupted") and row.started_at <= killed_at:
            end = killed_at if end is None else min(end, killed_at)
        assert end is not None, f"run {row.id} never finished"
        intervals.append((row.started_at, end, row.id, row.connector, row.status))
    intervals.sort()
    for before, after in pairwise(intervals):
        assert before[1] <= after[0], f"runs overlap: {before} and {after}"
    assert len(intervals) >= at_least
    statuses = sorted(r[4] for r in intervals)
    print(f"runs by status: { {s: statuses.count(s) for s in set(statuses)} }")
    for row in _runs(url):
        if row.error:
            print(f"run {row.id} {row.connector} {row.kind} {row.status}: {row.error}")


def _request(url: str, request_id: int) -> sa.Row[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(backfill_requests).where(backfill_requests.c.id == request_id)
            return conn.execute(query).one()
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_backfill_the_leader_died_in_is_run_again_by_the_next_leader(
    replicas: tuple[str, Path, Path, str, str, str], tmp_path: Path
) -> None:
    url, config_a, config_b, base_a, base_b, _ = replicas
    lease = ("--lease", str(LEASE_SECONDS))
    a = start_service(config_a, tmp_path, *lease)
    procs = [a]
    try:
        _wait_for(lambda: _role(base_a) == "leader", 60, a)
        b = start_service(config_b, tmp_path, *lease)
        procs.append(b)
        _wait_for(lambda: _role(base_b) == "standby", 60, a, b)
        queued = subprocess.run(
            [sys.executable, "-c", RUN, "--config", str(config_a), "queue-backfill", *QUEUE_ARGS],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert queued.returncode == 0, queued.stderr
        request_id = json.loads(queued.stdout)["id"]
        _wait_for(lambda: _request(url, request_id).state == "running", 60, a, b)
        killed_at = datetime.now(UTC)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        _wait_for(lambda: _request(url, request_id).state == "done", 90, b)
        row = _request(url, request_id)
        print(
            f"backfill {request_id}: {row.attempts} attempts, status {row.status}, "
            f"re-run in {(row.finished_at - row.started_at).total_seconds():.2f} s"
        )
        assert (row.attempts, row.status, row.requested_by) == (2, "ok", "cli")
        assert row.started_at > killed_at and row.report["pulled"]
        assert _role(base_b) == "leader"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert b.returncode == 0, outputs[1][-3000:]
    _assert_no_overlap(url, killed_at, at_least=4)
