"""Soak with chaos: two ``leadsync run`` replicas on PostgreSQL under live traffic and faults.

A fresh PostgreSQL database is created (dropped afterwards), both CRM sandboxes are generated
and served from this process, the store is backfilled with ``leadsync backfill --no-actions``
(existing leads keep their owners), then two ``leadsync run`` replicas (a leader and a standby,
short interval, short lease) run for ``--minutes`` while:

* traffic runs in both sandboxes: Salesforce new leads, campaign responses with web-form
  submissions, rep tasks and conversions (``TrafficGenerator.tick``); HubSpot new contacts, form
  submissions, email events, webinars and meetings (its ``TrafficGenerator`` thread); sales
  setting handed-off leads to the config's recycle statuses ("Recycled", "Unqualified"), each
  lead at most once, so every recycle must produce exactly one return to nurture; "Contact Us"
  submissions on leads that are not hand-raisers yet, for speed-to-lead under chaos;
* a fault schedule hits both CRMs: expired session / invalid token, rate limits
  (429 / REQUEST_LIMIT_EXCEEDED), 5xx bursts, UNABLE_TO_LOCK_ROW, record-level rejections, slow
  responses and responses slower than the connectors' timeout; every backend of the store's
  database is terminated (``pg_terminate_backend``); the PostgreSQL server is restarted
  (``pg_ctlcluster --mode fast 15 main restart``; ``--no-pg-restart`` leaves it out, and the
  one-minute test does); and the leader is killed with SIGKILL, the standby takes over and the
  killed replica is started again as the new standby.

Then faults are cleared and traffic stops; the run converges (two ok cycles of each connector
after the quiet point, nothing owed in the store) and a checker reads the SANDBOXES' state
and counts discrepancies (must be zero):

1. ``model``: every live person's LeadSync fields agree across the person's records, and Team
   is the matrix's team for the written Fit and Readiness;
   ``recompute`` (``bench/soak_model.py``): the checker's own identity join over the
   sandboxes' people, the real model run at each record's Scored At over the full activity
   history, Fit, Score, Readiness, Team and Reason compared; exclusions listed with reasons;
2. ``handoffs``: no two LeadSync tasks share a key; every lead that moved into sales during the
   soak has a hand-off task, and its owner is that task's owner (owner set by the hand-off);
   ``recycles``: every lead sales recycled was recycled exactly once (recycle count 1) and is
   in nurture (status, owner) or was handed off again later (owner of the newer task), and
   nothing else was recycled;
3. ``writes``: every live lead, contact and HubSpot contact has its LeadSync fields;
4. ``activities``: no CRM activity read twice for one person, and, as a cross-check against
   LeadSync's store (``bench/soak_store.py``, the one place the store is read for checking):
   every CRM activity is exactly one live store row on the right person, none extra.

It also samples the leader's RSS (slope per leader tenure) and reports the speed-to-lead p95
of "Contact Us" submissions on leads chosen when they submit (``bench/soak_speed.py``), with
each submission that got no task explained.

Run: ``python bench/soak.py [--minutes 10] [--leads 600] [--interval 10] [--json]``.
PostgreSQL from ``--pg-url`` or ``LEADSYNC_TEST_PG_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Exit 1 on any discrepancy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
import tomli_w

_ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is first on the path and its hubspot.py would shadow the HubSpot
# client library the checker's imports (connectors.hubspot) need.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench.soak_check import (  # noqa: E402
    HANDOFF_KEY,
    RECYCLE_STATUSES,
    _norm,
    check,
    matrix_teams,
    recompute_check,
)
from bench.soak_speed import (  # noqa: E402
    PersonTaskWatcher,
    explain_missing,
    ineligible,
    pick_now,
)
from bench.speed_to_lead import (  # noqa: E402
    Sample,
    child_env,
    contact_us_guid,
    free_port,
    leadsync_cmd,
    percentile,
    pick_targets,
    submit,
)
from leadsync.logs import configure as configure_logs  # noqa: E402
from leadsync.sandboxes import Sandboxes, running_sandboxes  # noqa: E402
from sandboxes.hubspot.traffic import TrafficGenerator as HubSpotTraffic  # noqa: E402
from sandboxes.salesforce.traffic import TrafficGenerator as SalesforceTraffic  # noqa: E402
from sandboxes.salesforce.traffic import TrafficRates  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONNECTOR_TIMEOUT_S = 5.0
#: The machine's one cluster (Debian's wrapper; run as root it switches to user postgres).
PG_RESTART = ["pg_ctlcluster", "--mode", "fast", "15", "main", "restart"]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the store ------------------------------------------------------------------------------------


@contextmanager
def fresh_pg_database(base: str) -> Iterator[str]:
    """A new, empty database on the server of ``base``, dropped (with force) afterwards."""
    name = f"leadsync_soak_{uuid.uuid4().hex[:12]}"
    # Pre-ping: the soak restarts the server, which kills this pool's idle connection.
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
        try:
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def kill_pg_connections(url: str) -> int:
    """Terminate every backend connected to the store's database; how many were terminated."""
    name = sa.engine.make_url(url).database
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": name},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(killed)


def changed_the_crm(run: Mapping[str, Any]) -> bool:
    """Whether a recorded run wrote fields or sent actions (tasks, enrolments) to its CRM."""
    counts = run.get("counts") or {}
    if isinstance(counts, str):
        counts = json.loads(counts)
    return bool(counts.get("written")) or bool((counts.get("actions") or {}).get("actions_done"))


def store_state(url: str) -> dict[str, Any]:
    """What the store still owes and the runs it recorded (only to know when it converged and
    to report; the checker's one look at the store is ``bench/soak_store.py``)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:

            def grouped(table: str, column: str) -> dict[str, int]:
                rows = conn.execute(sa.text(f"SELECT {column}, count(*) FROM {table} GROUP BY 1"))
                return {str(k): int(v) for k, v in rows}

            # What the org keeps refusing waits out its back-off until parked; it is not owed:
            # a lead under legal hold cannot be edited, and a lead converted by sales after a
            # hand-off was decided cannot take its owner change (nor the task ordered after it).
            refused_sql = (
                "state = 'pending' AND (error_message LIKE '%legal hold%' "
                "OR error_code = 'CANNOT_UPDATE_CONVERTED_LEAD')"
            )
            refused = conn.execute(
                sa.text(f"SELECT count(*) FROM pending_writes WHERE {refused_sql}")
            ).scalar_one()
            refused_actions = conn.execute(
                sa.text(
                    f"SELECT count(*) FROM actions WHERE {refused_sql} OR (state = 'pending' "
                    f"AND after IN (SELECT key FROM actions WHERE {refused_sql}))"
                )
            ).scalar_one()
            refused_handoffs = conn.execute(
                sa.text(
                    "SELECT count(*) FROM handoffs WHERE state IN ('queued', 'acting') AND id IN "
                    f"(SELECT handoff_id FROM actions WHERE {refused_sql})"
                )
            ).scalar_one()
            runs = [
                dict(r._mapping)
                for r in conn.execute(
                    sa.text(
                        "SELECT connector, status, started_at, counts FROM runs ORDER BY started_at"
                    )
                )
            ]
            return {
                "writes": grouped("pending_writes", "state"),
                "writes_refused_by_org": int(refused),
                "actions_refused_by_org": int(refused_actions),
                "handoffs_refused_by_org": int(refused_handoffs),
                "actions": grouped("actions", "state"),
                "handoffs": grouped("handoffs", "state"),
                "runs": runs,
            }
    finally:
        engine.dispose()


# -- the replicas ---------------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    config: Path
    base: str
    log: Path
    lease_s: float
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *leadsync_cmd(),
                    "--config",
                    str(self.config),
                    "run",
                    "--grace",
                    "20",
                    "--lease",
                    str(self.lease_s),
                ],
                stdout=subprocess.DEVNULL,
                stderr=out,
                env=child_env(),
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def role(self) -> str | None:
        try:
            return str(requests.get(self.base + "/healthz", timeout=2).json().get("role"))
        except (requests.RequestException, ValueError):
            return None

    def rss_mib(self) -> float | None:
        if not self.alive() or self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def write_config(
    world: Sandboxes, url: str, folder: Path, name: str, port: int, interval: int
) -> Path:
    data = world.config_data(url)
    data["sync"] = {
        **data.get("sync", {}),
        "interval_seconds": interval,
        "overlap_seconds": 5,
        "retry_backoff_seconds": 2.0,
        "max_write_attempts": 10,
    }
    for section in data["connectors"].values():
        section["timeout_seconds"] = CONNECTOR_TIMEOUT_S
        section["max_retries"] = 3
    data["service"] = {"host": "127.0.0.1", "port": port}
    path = folder / f"{name}.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        tomli_w.dump(data, out)
    return path


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    explain: Callable[[], str] | None = None,
) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(0.2)
    why = f"\n{explain()}" if explain is not None else ""
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}{why}")


def why_not_converged(url: str, since: float, logs: Sequence[Path]) -> str:
    """What a soak that did not converge still owes, for the failure message: the runs since
    the traffic stopped, the owed rows with the CRM's answer, and each replica's last log lines."""
    engine = sa.create_engine(url)
    lines: list[str] = []
    try:
        with engine.connect() as conn:
            for row in conn.execute(
                sa.text(
                    "SELECT connector, kind, status, started_at, error FROM runs "
                    "WHERE started_at > :since ORDER BY started_at"
                ),
                {"since": datetime.fromtimestamp(since, UTC)},
            ):
                lines.append(
                    f"run {row.connector} {row.kind} {row.status} {row.started_at}"
                    f" {(row.error or '')[:300]}"
                )
            for table in ("pending_writes", "actions"):
                for row in conn.execute(
                    sa.text(f"SELECT * FROM {table} WHERE state = 'pending' ORDER BY id LIMIT 10")
                ):
                    lines.append(f"{table}: {dict(row._mapping)}")
            for row in conn.execute(
                sa.text(
                    "SELECT id, person_id, record_uid, state, owner_id, queued_at FROM handoffs"
                    " WHERE state IN ('queued', 'acting') ORDER BY id LIMIT 10"
                )
            ):
                lines.append(f"handoff: {dict(row._mapping)}")
    finally:
        engine.dispose()
    for log in logs:
        tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
        lines.append(f"--- last lines of {log.name}:")
        lines.extend(tail)
    return "\n".join(lines)


# -- traffic --------------------------------------------------------------------------------------


class Traffic:
    """Both sandboxes' traffic generators, sales recycling handed-off leads, and hand-raisers."""

    def __init__(self, world: Sandboxes, seed: int, tick_s: float) -> None:
        self.world = world
        self.org = world.salesforce.org
        self.rng = random.Random(f"soak:{seed}")
        self.tick_s = tick_s
        rates = TrafficRates(
            new_leads=2, campaign_responses=3, rep_tasks=2, recycles=0, conversions=1
        )
        self.salesforce = SalesforceTraffic(self.org, seed=seed, rates=rates)
        self.hubspot = HubSpotTraffic(world.hubspot.portal, seed=seed, interval_s=tick_s / 5)
        self.counts: Counter[str] = Counter()
        #: Lead id -> the recycle status sales set (each lead at most once).
        self.recycled: dict[str, str] = {}
        #: Lead id -> when sales set it: the earliest LeadSync's recycle baseline can be.
        self.recycled_at: dict[str, datetime] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-traffic", daemon=True)

    def start(self) -> None:
        self.hubspot.start()
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        self.hubspot.stop()

    def held(self) -> dict[str, int]:
        out = {f"salesforce.{k}": v for k, v in sorted(self.counts.items())}
        out.update({f"hubspot.{k}": v for k, v in sorted(self.hubspot.counts.items())})
        return out

    def _run(self) -> None:
        ticks = 0
        while not self.stop_event.wait(self.tick_s):
            ticks += 1
            self.counts.update(self.salesforce.tick())
            if ticks % 2 == 0:
                self._recycle_one()

    def _recycle_one(self) -> None:
        """Sales sets a lead LeadSync handed off to a recycle status (never the same lead
        twice, so each recycle must end in exactly one return to nurture)."""
        handed = {
            str(t.get("WhoId"))
            for t in self.org.rows("Task")
            if t.get("LeadSync_Key__c") and HANDOFF_KEY.match(str(t["LeadSync_Key__c"]))
        }
        candidates = []
        for lead_id in sorted(handed - set(self.recycled)):
            row = self.org.raw("Lead", lead_id)
            if (
                row
                and not row.get("IsConverted")
                and not row.get("IsDeleted")
                and str(row.get("LeadSync_Team__c") or "").lower() == "sales"
                and row.get("Status") not in (*RECYCLE_STATUSES, "Nurture")
            ):
                candidates.append(lead_id)
        if not candidates:
            return
        lead_id = self.rng.choice(candidates)
        status = RECYCLE_STATUSES[len(self.recycled) % len(RECYCLE_STATUSES)]
        self.recycled_at[lead_id] = datetime.now(UTC)
        self.org.update("Lead", lead_id, {"Status": status})
        self.recycled[lead_id] = status
        self.counts[f"recycles_{status.lower()}"] += 1


# -- faults ---------------------------------------------------------------------------------------


@dataclass
class Chaos:
    world: Sandboxes
    store_url: str
    replicas: list[Replica]
    lease_s: float
    rng: random.Random
    pg_restart: bool
    injected: Counter[str] = field(default_factory=Counter)
    events: list[dict[str, Any]] = field(default_factory=list)

    def schedule(self) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        sf, hs = self.world.salesforce, self.world.hubspot
        timeout = CONNECTOR_TIMEOUT_S + 3

        def inject(target: Any, spec: dict[str, Any]) -> Callable[[], dict[str, Any]]:
            return lambda: {"armed": spec, "answer": _short(target.inject(spec))}

        def hs_reject() -> dict[str, Any]:
            live = [c.id for c in hs.portal.live("contacts")]
            ids = sorted(self.rng.sample(live, min(40, len(live))))
            spec = {"kind": "reject", "ids": ids, "count": 5}
            hs.inject(spec)
            return {"armed": {**spec, "ids": len(ids)}}

        return [
            ("salesforce.expired_session", inject(sf, {"kind": "expire_sessions"})),
            ("hubspot.rate_limit_429", inject(hs, {"kind": "rate_limit", "count": 3})),
            ("salesforce.http_5xx", inject(sf, {"kind": "http_error", "status": 503, "count": 6})),
            ("salesforce.unable_to_lock_row", inject(sf, {"kind": "lock_rows", "count": 3})),
            ("hubspot.http_5xx", inject(hs, {"kind": "http_error", "status": 502, "count": 6})),
            (
                "salesforce.record_rejection",
                inject(sf, {"kind": "reject", "object": "Lead", "count": 5}),
            ),
            ("postgresql.connections_killed", self.kill_pg),
            *([("postgresql.restart", self.restart_pg)] if self.pg_restart else []),
            ("salesforce.slow_response", inject(sf, {"kind": "delay", "seconds": 2, "count": 3})),
            ("leader.sigkill", self.kill_leader),
            ("hubspot.invalid_token", inject(hs, {"kind": "expire_token", "count": 2})),
            ("salesforce.rate_limit", inject(sf, {"kind": "rate_limit", "count": 3})),
            ("hubspot.record_rejection", hs_reject),
            ("hubspot.timeout", inject(hs, {"kind": "delay", "seconds": timeout, "count": 1})),
            ("salesforce.timeout", inject(sf, {"kind": "delay", "seconds": timeout, "count": 1})),
            ("hubspot.slow_response", inject(hs, {"kind": "delay", "seconds": 2, "count": 3})),
        ]

    def fire(self, name: str, action: Callable[[], dict[str, Any]], at_s: float) -> None:
        detail = action()
        self.injected[name] += 1
        self.events.append({"at_s": round(at_s, 1), "fault": name, **detail})
        say(f"  {at_s:6.1f} s  fault {name}: {json.dumps(detail, default=str)[:160]}")

    def kill_pg(self) -> dict[str, Any]:
        return {"terminated_backends": kill_pg_connections(self.store_url)}

    def restart_pg(self) -> dict[str, Any]:
        """A real server restart (fast shutdown: every session cut, then refused until the
        server is back), timed from the command to the first accepted connection."""
        began = time.monotonic()
        done = subprocess.run(PG_RESTART, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(PG_RESTART)} failed: {done.stderr.strip()}")

        def accepts() -> bool:
            engine = sa.create_engine(self.store_url)
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                return True
            except sa.exc.OperationalError:
                return False
            finally:
                engine.dispose()

        wait_until(accepts, 60, "PostgreSQL to accept connections again")
        back = time.monotonic() - began
        leader = self.await_leader()
        return {
            "command": " ".join(PG_RESTART),
            "back_after_s": round(back, 2),
            "leader_after_s": round(time.monotonic() - began, 2),
            "leader": leader.name,
        }

    def await_leader(self) -> Replica:
        """The replica leading once one does: after the store's server went away, each
        replica's lease can be lost and re-won before one holds it again."""
        found: list[Replica] = []

        def leading() -> bool:
            found[:] = [r for r in self.replicas if r.alive() and r.role() == "leader"]
            return bool(found)

        wait_until(leading, 120, "a replica to lead")
        return found[0]

    def kill_leader(self) -> dict[str, Any]:
        leader = self.await_leader()
        standby = next(r for r in self.replicas if r is not leader)
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(timeout=10)
        began = time.monotonic()
        wait_until(lambda: standby.role() == "leader", self.lease_s + 30, "the standby to lead")
        takeover = time.monotonic() - began
        leader.start()
        wait_until(lambda: leader.role() == "standby", 60, "the restarted replica to stand by")
        return {"killed": leader.name, "new_leader": standby.name, "takeover_s": round(takeover, 2)}

    def clear(self) -> None:
        self.world.salesforce.inject({"kind": "clear"})
        self.world.hubspot.inject({"kind": "clear"})


def _short(answer: Any) -> Any:
    if isinstance(answer, dict) and "active" in answer:
        return {"active": len(answer["active"])}
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if k in ("kind", "remaining", "status")}
    return None


# -- RSS ------------------------------------------------------------------------------------------


class RssSampler:
    """Every ``every_s``: the leader's RSS (MiB), tagged with the replica and its start."""

    def __init__(self, replicas: Sequence[Replica], every_s: float) -> None:
        self.replicas = replicas
        self.every_s = every_s
        self.samples: list[tuple[str, float, float]] = []
        self.began = time.monotonic()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-rss", daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(self.every_s):
            for replica in self.replicas:
                if replica.alive() and replica.role() == "leader":
                    rss = replica.rss_mib()
                    if rss is not None:
                        tenure = f"{replica.name}#{replica.starts}"
                        self.samples.append((tenure, time.monotonic() - self.began, rss))
                    break

    def summary(self) -> dict[str, Any]:
        tenures: dict[str, list[tuple[float, float]]] = {}
        for tenure, at, rss in self.samples:
            tenures.setdefault(tenure, []).append((at, rss))
        out = {}
        for tenure, points in tenures.items():
            # Skip the first fifth of a tenure: imports, caches and the first full pull.
            steady = points[len(points) // 5 :]
            out[tenure] = {
                "samples": len(points),
                "minutes": round((points[-1][0] - points[0][0]) / 60, 2),
                "first_mib": round(points[0][1], 1),
                "last_mib": round(points[-1][1], 1),
                "max_mib": round(max(p[1] for p in points), 1),
                "slope_mib_per_min": _slope(steady),
            }
        return out


def _slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of RSS over time, MiB per minute."""
    if len(points) < 3:
        return None
    xs = [p[0] / 60 for p in points]
    ys = [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return None
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den, 3)


# -- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 10.0
    leads: int = 600
    seed: int = 7
    interval: int = 10
    lease_s: float = 3.0
    traffic_tick_s: float = 5.0
    hand_raisers: int = 10
    converge_timeout_s: float = 240.0
    #: The share of the run the faults are spread over; the rest lets the cycles meet the
    #: last ones armed before they are cleared (a short run wants a bigger rest).
    faults_within: float = 0.85
    #: Restart the PostgreSQL server itself (``PG_RESTART``); see ``bench/soak.md`` for why the
    #: one-minute test leaves it out.
    pg_restart: bool = False
    logs: Path | None = None


def run_soak(store_url: str, options: SoakOptions) -> dict[str, Any]:
    """The whole soak against the (fresh, empty) PostgreSQL database at ``store_url``."""
    rng = random.Random(f"soak:{options.seed}")
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="leadsync-soak-") as tmp,
        running_sandboxes(options.leads, options.seed) as world,
    ):
        folder = Path(tmp)
        replicas = []
        for name in ("a", "b"):
            port = free_port()
            config = write_config(world, store_url, folder, name, port, options.interval)
            base = f"http://127.0.0.1:{port}"
            replicas.append(Replica(name, config, base, folder / f"{name}.log", options.lease_s))
        say(f"backfill (--no-actions) of {options.leads} leads into PostgreSQL ...")
        backfill = subprocess.run(
            [*leadsync_cmd(), "--config", str(replicas[0].config), "backfill", "--no-actions"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        if backfill.returncode != 0:
            tail = backfill.stderr.decode(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"backfill failed ({backfill.returncode}):\n" + "\n".join(tail))
        initial_teams = {
            r["Id"]: _norm(r.get("LeadSync_Team__c")) for r in world.salesforce.org.records("Lead")
        }
        initial_statuses = {r["Id"]: r.get("Status") for r in world.salesforce.org.records("Lead")}
        sources = ["hubspot", "salesforce"] * options.hand_raisers
        # What the earlier soak did (leads picked before the run): kept only to count how
        # many of those would no longer have been eligible when their turn came.
        preselected = [
            s.lead_id
            for s in pick_targets(
                world,
                {"hubspot": options.hand_raisers, "salesforce": options.hand_raisers},
                random.Random(f"soak-preselect:{options.seed}"),
            )
        ]
        stale: Counter[str] = Counter()
        samples: list[Sample] = []
        used: set[str] = set()
        unpicked = 0
        guid = contact_us_guid(world)
        traffic = Traffic(world, options.seed, options.traffic_tick_s)
        chaos = Chaos(world, store_url, replicas, options.lease_s, rng, options.pg_restart)
        sampler = RssSampler(replicas, every_s=2.0)
        watcher = PersonTaskWatcher(world)
        converged_s: float | None = None
        exit_codes: list[int | None] = []
        services_began = datetime.now(UTC)
        try:
            replicas[0].start()
            wait_until(lambda: replicas[0].role() == "leader", 60, "replica a to lead")
            replicas[1].start()
            wait_until(lambda: replicas[1].role() == "standby", 60, "replica b to stand by")
            sampler.thread.start()
            watcher.thread.start()
            traffic.start()
            window_s = options.minutes * 60
            chaos_s = window_s * options.faults_within
            plan = chaos.schedule()
            fault_at = [chaos_s * (i + 0.5) / len(plan) for i in range(len(plan))]
            submit_at = sorted(rng.uniform(0, chaos_s) for _ in sources)
            rng.shuffle(sources)
            say(
                f"soak: {options.minutes:g} min, interval {options.interval} s, lease "
                f"{options.lease_s} s, {len(plan)} faults, {len(sources)} hand-raisers"
            )
            start = time.monotonic()
            events: list[tuple[float, int, Any]] = [
                (t, 0, f) for t, f in zip(fault_at, plan, strict=True)
            ]
            events += [(t, 1, s) for t, s in zip(submit_at, sources, strict=True)]
            for at, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
                delay = start + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if kind == 0:
                    name, action = item
                    chaos.fire(name, action, time.monotonic() - start)
                else:
                    old_pick = world.salesforce.org.raw("Lead", preselected.pop())
                    stale[ineligible(old_pick) or "still eligible"] += 1
                    sample = pick_now(world, item, used, rng)
                    if sample is None:
                        unpicked += 1
                    else:
                        watcher.watch(sample)
                        submit(world, sample, guid)
                        samples.append(sample)
                for replica in replicas:
                    if not replica.alive():
                        raise RuntimeError(f"replica {replica.name} exited: {replica.proc}")
            time.sleep(max(0.0, start + window_s - time.monotonic()))
            armed_at_end = {
                "salesforce": world.salesforce.api.faults.armed(),
                "hubspot": world.hubspot.faults.describe()["active"],
            }
            chaos.clear()
            traffic.stop()
            quiet_at = time.monotonic()
            quiet_wall = time.time()
            say("faults cleared, traffic stopped; waiting for convergence ...")

            def converged() -> bool:
                for replica in replicas:
                    if not replica.alive():
                        raise RuntimeError(f"replica {replica.name} exited during convergence")
                state = store_state(store_url)
                for connector in ("salesforce", "hubspot"):
                    after = [
                        r
                        for r in state["runs"]
                        if r["connector"] == connector and r["started_at"].timestamp() > quiet_wall
                    ]
                    if len(after) < 2 or any(r["status"] != "ok" for r in after[-2:]):
                        return False
                    if changed_the_crm(after[-1]):
                        # What it wrote or enrolled is read back by the cycle after it.
                        return False
                owed = (
                    state["writes"].get("pending", 0)
                    - state["writes_refused_by_org"]
                    + state["actions"].get("pending", 0)
                    - state["actions_refused_by_org"]
                    + state["handoffs"].get("queued", 0)
                    + state["handoffs"].get("acting", 0)
                    - state["handoffs_refused_by_org"]
                )
                return owed == 0

            wait_until(
                converged,
                options.converge_timeout_s,
                "convergence",
                lambda: why_not_converged(store_url, quiet_wall, [r.log for r in replicas]),
            )
            converged_s = time.monotonic() - quiet_at
            time.sleep(1.0)
            watcher.stop.set()
            sampler.stop_event.set()
            problems = check(
                world, traffic.recycled, initial_teams, initial_statuses, matrix_teams(world)
            )
            more, model_summary = recompute_check(
                world, traffic.recycled_at, services_began, store_url
            )
            problems.update(more)
            state = store_state(store_url)
            roles = {r.name: r.role() for r in replicas}
            no_task = explain_missing(world, samples, store_url)
        finally:
            watcher.stop.set()
            sampler.stop_event.set()
            traffic.stop()
            for replica in replicas:
                exit_codes.append(replica.stop())
            if options.logs is not None:
                options.logs.mkdir(parents=True, exist_ok=True)
                for replica in replicas:
                    if replica.log.exists():
                        (options.logs / replica.log.name).write_bytes(replica.log.read_bytes())
        latencies = [s.latency_s for s in samples if s.latency_s is not None]
        runs = Counter(f"{r['connector']}:{r['status']}" for r in state["runs"])
        return {
            "minutes": options.minutes,
            "leads": options.leads,
            "interval_seconds": options.interval,
            "lease_seconds": options.lease_s,
            "traffic_held": traffic.held(),
            "faults_injected": dict(chaos.injected),
            "fault_events": chaos.events,
            "faults_still_armed_at_clear": armed_at_end,
            "runs_by_status": dict(sorted(runs.items())),
            "store_at_end": {
                k: state[k]
                for k in (
                    "writes",
                    "writes_refused_by_org",
                    "actions",
                    "actions_refused_by_org",
                    "handoffs",
                    "handoffs_refused_by_org",
                )
            },
            "converged_seconds": round(converged_s, 1) if converged_s is not None else None,
            "roles_at_end": roles,
            "exit_codes": exit_codes,
            "records": {
                "salesforce_leads": len(world.salesforce.org.records("Lead")),
                "salesforce_contacts": len(world.salesforce.org.records("Contact")),
                "hubspot_contacts": len(world.hubspot.portal.live("contacts")),
                "leadsync_tasks": sum(
                    1 for t in world.salesforce.org.records("Task") if t.get("LeadSync_Key__c")
                ),
                "recycled_by_sales": len(traffic.recycled),
            },
            "speed_to_lead": {
                "submitted": len(samples),
                "no_eligible_lead": unpicked,
                "preselected_at_their_turn": dict(stale),
                "tasks_seen": len(latencies),
                "p50_s": round(percentile(latencies, 50), 2) if latencies else None,
                "p95_s": round(percentile(latencies, 95), 2) if latencies else None,
                "max_s": round(max(latencies), 2) if latencies else None,
                "no_task": no_task,
            },
            "rss": sampler.summary(),
            "model_recompute": model_summary,
            "discrepancies": {k: len(v) for k, v in problems.items()},
            "discrepancy_samples": {k: v[:10] for k, v in problems.items() if v},
            "total_seconds": round(time.monotonic() - began, 1),
        }


def render(result: dict[str, Any], command: str) -> str:
    out = [f"soak: {command}", f"total {result['total_seconds']} s"]
    out.append("traffic held: " + ", ".join(f"{k} {v}" for k, v in result["traffic_held"].items()))
    out.append(
        "faults injected: " + ", ".join(f"{k} {v}" for k, v in result["faults_injected"].items())
    )
    out.append(f"fault events: {json.dumps(result['fault_events'], default=str)}")
    out.append(
        f"faults still armed when cleared: {json.dumps(result['faults_still_armed_at_clear'])}"
    )
    out.append(f"runs by status: {result['runs_by_status']}")
    out.append(f"store at end: {result['store_at_end']}")
    out.append(
        f"converged {result['converged_seconds']} s after the quiet point; "
        f"roles {result['roles_at_end']}; exit codes {result['exit_codes']}"
    )
    out.append(f"records: {result['records']}")
    out.append(
        f"speed-to-lead (Contact Us -> hand-off task, under chaos): {result['speed_to_lead']}"
    )
    for tenure, rss in result["rss"].items():
        out.append(f"leader RSS {tenure}: {rss}")
    out.append(f"model recompute and activities: {json.dumps(result['model_recompute'])}")
    total = sum(result["discrepancies"].values())
    out.append(f"discrepancies: {total} {result['discrepancies']}")
    for check_name, lines in result["discrepancy_samples"].items():
        for line in lines:
            out.append(f"  {check_name}: {line}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--leads", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--interval", type=int, default=10, help="[sync] interval_seconds")
    parser.add_argument("--lease", type=float, default=3.0, help="leader lease, seconds")
    parser.add_argument("--pg-url", default=os.environ.get("LEADSYNC_TEST_PG_URL") or DEFAULT_PG)
    parser.add_argument(
        "--pg-restart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="restart the PostgreSQL server once during the chaos (default on)",
    )
    parser.add_argument("--logs", type=Path, help="keep both replicas' logs in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    configure_logs(json_lines=False, level="warning")
    options = SoakOptions(
        minutes=args.minutes,
        leads=args.leads,
        seed=args.seed,
        interval=args.interval,
        lease_s=args.lease,
        logs=args.logs,
        pg_restart=args.pg_restart,
    )
    with fresh_pg_database(args.pg_url) as url:
        result = run_soak(url, options)
    command = "python bench/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(json.dumps(result, indent=2, default=str) if args.json else render(result, command))
    return 0 if sum(result["discrepancies"].values()) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
