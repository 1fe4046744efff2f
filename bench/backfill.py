"""Backfill: N Salesforce leads with M activities from the sandbox into PostgreSQL, as ops runs it.

A child process generates the org (``generate_org(leads, activities=M)``: the activities are
CampaignMember, Task, Event and Form_Submission__c in the shares of ``generator_bulk.MIX``)
and serves it over HTTPS. This process creates a fresh PostgreSQL database, writes a config
(Salesforce only, PostgreSQL store), runs ``leadsync db upgrade`` and then
``leadsync backfill --no-actions --json`` as subprocesses, samples the RSS of the backfill's
process tree from /proc every 0.5 s, and reports:

* wall time, and the phases read from leadsync's JSON log (pull per object, scoring,
  write-back);
* API calls by endpoint from the sandbox's ``/_sandbox/stats``, against the minimum possible
  (:func:`minimum_calls` says what counts), and the ratio;
* peak RSS of the leadsync process tree, the sandbox's own RSS, the store's size;
* the outcome in the org: every lead the org lets LeadSync edit carries a score.

Targets (issue 7): under 15 minutes for 1,000,000 leads / 10,000,000 activities, peak RSS
under 1.5 GiB, calls within 5 % of the minimum.

    python bench/backfill.py --leads 20000 --activities 200000      # about a minute
    python bench/backfill.py                                         # the full run
    python bench/backfill.py --json                                  # one JSON document

Needs PostgreSQL: ``--pg-url`` (default ``$LEADSYNC_TEST_PG_URL``, else the local server) is
an admin URL; the bench creates ``leadsync_backfill_<random>`` there and drops it afterwards
unless ``--keep``. Results: ``bench/backfill.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import requests
import sqlalchemy as sa
import tomli_w

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench.speed_to_lead import log_events  # noqa: E402
from connectors.salesforce.settings import SalesforceSettings  # noqa: E402
from leadsync.config.loading import read_toml  # noqa: E402
from leadsync.sandboxes import DEMO_CONFIG  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PEOPLE_OBJECTS = ("Lead", "Contact")
ACTIVITY_OBJECTS = ("CampaignMember", "Task", "Event", "Form_Submission__c")
#: A REST query page holds at most 2,000 rows; Collections take 200 records a call.
REST_PAGE = 2000
COLLECTION_SIZE = 200
#: Bulk 2.0 ingest: create, upload, close (UploadComplete), one status poll. When the job's
#: counters show every record processed and none failed, the result files say nothing more.
INGEST_MIN_CALLS = 4
#: Bulk 2.0 takes at most 100 MB of CSV per upload (150 MB base64-encoded on the wire).
INGEST_MAX_BYTES = 100_000_000
#: A generous write-back row: an 18-character id and LeadSync's output fields, quoted.
WRITE_ROW_BYTES = 160
#: Each sample reads every process's /proc entry: at 0.2 s that cost the bench a tenth of a core.
SAMPLE_EVERY_S = 0.5
TARGET_SECONDS = 15 * 60
TARGET_RSS_MIB = 1.5 * 1024
TARGET_OVER_MIN = 0.05


# -- the sandbox child ----------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Child mode: generate and serve the org; answer ``verify`` and ``rss`` on stdin."""
    from leadsync.logs import configure as configure_logs
    from sandboxes.salesforce import SalesforceSandbox, generate_org

    configure_logs(json_lines=False, level="warning")
    started = time.perf_counter()
    org = generate_org(leads=args.leads, seed=args.seed, activities=args.activities)
    generated_s = time.perf_counter() - started
    with SalesforceSandbox(org, port=0) as sb:
        users = org.records("User")
        ready = {
            "url": sb.url,
            "ca_file": sb.ca_file,
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "reps": sorted(
                u["Id"]
                for u in users
                if u.get("IsActive") and u.get("Title") == "Account Executive"
            ),
            "fallback_owner": org.assignment_queue_id,
            "generate_seconds": round(generated_s, 1),
            "rows": {name: len(org.rows(name)) for name in (*PEOPLE_OBJECTS, *ACTIVITY_OBJECTS)},
            "rss_mib": _own_rss_mib(),
        }
        _answer(ready)
        for line in sys.stdin:
            command = line.strip()
            if command == "verify":
                _answer(verify(org))
            elif command == "rss":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                _answer(
                    {
                        "rss_mib": _own_rss_mib(),
                        "peak_rss_mib": _peak_rss_mib(),
                        "cpu_seconds": usage.ru_utime + usage.ru_stime,
                    }
                )


def _answer(document: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def verify(org: Any) -> dict[str, Any]:
    """What the backfill left in the org: which people carry LeadSync's score, by object.

    Converted leads and leads under legal hold refuse edits by the org's rules, so
    ``editable`` is the number that must carry a score.
    """
    out: dict[str, Any] = {}
    for sobject in PEOPLE_OBJECTS:
        live = editable = scored = scored_editable = 0
        for row in org.rows(sobject):
            if row.get("IsDeleted"):
                continue
            live += 1
            can_edit = not row.get("IsConverted") and not row.get("Legal_Hold__c")
            has_score = row.get("LeadSync_Score__c") is not None
            editable += can_edit
            scored += has_score
            scored_editable += can_edit and has_score
        out[sobject] = {
            "live": live,
            "editable": editable,
            "scored": scored,
            "scored_editable": scored_editable,
        }
    return out


def _own_rss_mib() -> float:
    return _rss_kib(os.getpid()) / 1024


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- memory of a process tree ---------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def tree_pids(root: int) -> list[int]:
    """``root`` and every descendant, from /proc's parent links."""
    return _descendants(root, _proc_stats())


def _proc_stats() -> dict[int, str]:
    """Every process's /proc/<pid>/stat line, read once per sample for both uses below."""
    stats: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = (entry / "stat").read_text()
        except OSError:
            continue
    return stats


def _descendants(root: int, stats: Mapping[int, str]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        # The command name may hold spaces and parentheses; the fields after its ")" do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class TreeSampler:
    """Samples the summed RSS of a process tree until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self.peak_at = 0.0
        self.samples = 0
        # Backends exit with their connections, taking their counters along, so PostgreSQL's
        # CPU is the last value seen of every server process, less what it had at the start.
        self._pg_start = postgres_cpu_ticks()
        self._pg_seen = dict(self._pg_start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = _proc_stats()
            total = sum(_rss_kib(pid) for pid in _descendants(self.pid, stats))
            if total > self.peak_kib:
                self.peak_kib, self.peak_at = total, time.time()
            self._pg_seen.update(postgres_cpu_ticks(stats))
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY_S)

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        self._stop.set()
        self._thread.join()
        self._pg_seen.update(postgres_cpu_ticks())
        return self.peak_kib / 1024

    @property
    def postgres_cpu_seconds(self) -> float:
        """CPU seconds of every PostgreSQL server process while sampling (server-wide: other
        clients of the same server count too)."""
        used = sum(t - self._pg_start.get(pid, 0) for pid, t in self._pg_seen.items())
        return used / os.sysconf("SC_CLK_TCK")


# -- the minimum ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Minimum:
    """The fewest calls that can do this backfill, by part, and the rule behind each."""

    parts: dict[str, int] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.parts.values())


def minimum_calls(
    rows: Mapping[str, int],
    written: Mapping[str, int],
    settings: SalesforceSettings,
    rejected: Mapping[str, int] | None = None,
    uploaded: Mapping[str, int] | None = None,
) -> Minimum:
    """The calls no client could do this backfill with fewer of, knowing the row counts.

    * auth: one token request.
    * each pulled object of ``n`` rows (queryAll, deleted rows included): up to
      ``bulk_query_threshold`` rows, ``ceil(n / 2000)`` REST pages (at least one, to learn
      there are none); above it one Bulk 2.0 query job: create, one status poll (no client
      can know the job finished without asking once), and ``ceil(n / maxRecords)`` results
      calls at the client's page size (``bulk_page_size``).
    * write-back of ``written[object]`` records per object: above ``bulk_write_threshold``
      one Bulk 2.0 ingest job per 100 MB of CSV (``uploaded[object]``, the bytes the sandbox
      received for the object; without it rows are taken at ``WRITE_ROW_BYTES``), four calls
      each (create, upload, close, one status poll), and a ``failedResults`` call for each
      job holding one of the ``rejected[object]`` records (which records the org refuses is
      only known from that file, so refusals spread over every job once there are at least
      as many as jobs); the objects at or under it share ``ceil(sum / 200)`` Collections
      calls (a call may mix objects).

    * before the write-back, one REST query per people object for what others changed
      since the pull began (pulls leave out LeadSync's own writes; see ``engine.pulls``).

    Not in the minimum, so counted as overhead: the REST first page that tells the connector a
    pull is big enough for Bulk, status polls beyond the first, describes and the user and
    queue reads a cycle makes.
    """
    parts: dict[str, int] = {"auth": 1}
    rules = {"auth": "one OAuth token request"}
    # Older settings had no page size: the client asked for 50,000 rows a page.
    page_size = int(getattr(settings, "bulk_page_size", 50_000))
    for name, n in rows.items():
        if n > settings.bulk_query_threshold:
            pages = math.ceil(n / page_size)
            parts[f"pull {name}"] = 2 + pages
            rules[f"pull {name}"] = f"Bulk query: create, 1 poll, {pages} page(s) of ≤{page_size:,}"
        else:
            pages = max(1, math.ceil(n / REST_PAGE))
            parts[f"pull {name}"] = pages
            rules[f"pull {name}"] = f"REST: {pages} page(s) of ≤{REST_PAGE:,}"
    collections: dict[str, int] = {}
    for name, n in written.items():
        if n > settings.bulk_write_threshold:
            size = (uploaded or {}).get(name) or n * WRITE_ROW_BYTES
            jobs = max(1, math.ceil(size / INGEST_MAX_BYTES))
            failed = min(jobs, (rejected or {}).get(name, 0))
            parts[f"write {name}"] = INGEST_MIN_CALLS * jobs + failed
            rules[f"write {name}"] = (
                f"Bulk ingest of {size / 1e6:,.1f} MB: {jobs} job(s) × (create, upload, close,"
                " 1 poll)" + (f" + {failed} failedResults" if failed else "")
            )
        elif n:
            collections[name] = n
    if collections:
        # One Collections call may carry records of several objects.
        part = "write " + " + ".join(collections)
        total = sum(collections.values())
        parts[part] = math.ceil(total / COLLECTION_SIZE)
        rules[part] = f"Collections: ceil({total:,} / 200)"
    people = [name for name in ("Lead", "Contact") if name in rows]
    if any(written.values()) and people:
        # Pulls leave out LeadSync's own writes, so before it writes a client must learn
        # what others changed since it read (an edit its write would hide): one query each.
        parts["catch-up"] = len(people)
        rules["catch-up"] = "others' changes since the pull began: 1 REST query per people object"
    return Minimum(parts, rules)


# -- the run --------------------------------------------------------------------------------------


def leadsync_cmd() -> list[str]:
    script = Path(sys.executable).with_name("leadsync")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from leadsync.cli import main; main()"]


def child_env() -> dict[str, str]:
    """This tree first on the path, so leadsync runs the code the bench measures."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
    return env


def write_config(folder: Path, ready: Mapping[str, Any], store_url: str) -> Path:
    data = read_toml(DEMO_CONFIG)
    data["store"] = {"url": store_url}
    data["connectors"] = {
        "salesforce": {
            "instance_url": ready["url"],
            "login_url": ready["url"],
            "auth": "client_credentials",
            "client_id": ready["client_id"],
            "client_secret": ready["client_secret"],
            "ca_bundle": ready["ca_file"],
        }
    }
    data["identity"] = {**data.get("identity", {}), "sales_crm": "salesforce"}
    data["handoff"] = {
        "enabled": True,
        "owner_status": "Working - Contacted",
        "pools": [{"name": "Account Executives", "members": list(ready["reps"])}],
        "fallback_owner": ready["fallback_owner"],
    }
    data.pop("recycle", None)
    path = folder / "leadsync.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        tomli_w.dump({k: v for k, v in data.items() if v is not None}, out)
    return path


def postgres_cpu_ticks(stats: Mapping[int, str] | None = None) -> dict[int, int]:
    """CPU clock ticks used so far by each running ``postgres`` process, by pid."""
    ticks: dict[int, int] = {}
    for pid, stat in (_proc_stats() if stats is None else stats).items():
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name.startswith("postgres"):
            fields = rest.split()
            ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def fresh_database(admin_url: str) -> str:
    name = f"leadsync_backfill_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def store_mib(url: str) -> float:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            size = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
    finally:
        engine.dispose()
    return int(size or 0) / 2**20


def _at(event: Mapping[str, Any]) -> float | None:
    when = event.get("timestamp")
    if not when:
        return None
    return datetime.fromisoformat(str(when).replace("Z", "+00:00")).timestamp()


@dataclass
class Sandbox:
    """The sandbox child process and what it said when ready."""

    proc: subprocess.Popen[str]
    ready: dict[str, Any]

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def stats(self) -> dict[str, dict[str, int]]:
        """Calls by endpoint, and Bulk ingest bytes uploaded by object, so far."""
        response = requests.get(f"{self.ready['url']}/_sandbox/stats", verify=self.ready["ca_file"])
        response.raise_for_status()
        body = response.json()
        return {
            part: {str(k): int(v) for k, v in body.get(part, {}).items()}
            for part in ("by_endpoint", "bulk_upload_bytes")
        }

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_sandbox(args: argparse.Namespace, errors: IO[str]) -> Sandbox:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        f"--leads={args.leads}",
        f"--activities={args.activities}",
        f"--seed={args.seed}",
    ]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=child_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the sandbox exited ({proc.wait()}) before it was ready")
    return Sandbox(proc, json.loads(line))


def run(args: argparse.Namespace, folder: Path, say: Any) -> dict[str, Any]:
    """One backfill, measured; the report as a JSON-able dict."""
    load_before = os.getloadavg()
    with (folder / "sandbox.log").open("w") as sandbox_errors:
        say(f"generating {args.leads:,} leads / {args.activities:,} activities ...")
        sandbox = start_sandbox(args, sandbox_errors)
        try:
            return _measure(args, folder, sandbox, load_before, say)
        finally:
            sandbox.close()


def _measure(
    args: argparse.Namespace,
    folder: Path,
    sandbox: Sandbox,
    load_before: tuple[float, float, float],
    say: Any,
) -> dict[str, Any]:
    ready = sandbox.ready
    store_url = args.store_url or fresh_database(args.pg_url)
    try:
        config = write_config(folder, ready, store_url)
        base = [*leadsync_cmd(), "--config", str(config)]
        upgrade = subprocess.run(
            [*base, "db", "upgrade"], capture_output=True, text=True, env=child_env()
        )
        if upgrade.returncode != 0:
            raise SystemExit(f"leadsync db upgrade failed: {upgrade.stderr.strip()[-2000:]}")
        before = sandbox.stats()
        sandbox_cpu = sandbox.ask("rss")["cpu_seconds"]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        say(f"leadsync backfill --no-actions ({sum(ready['rows'].values()):,} rows) ...")
        log_path = folder / "backfill.log"
        started = time.time()
        with log_path.open("wb") as log_file, (folder / "backfill.json").open("wb") as out:
            proc = subprocess.Popen(
                [*base, "backfill", "--no-actions", "--json"],
                stdout=out,
                stderr=log_file,
                env=child_env(),
            )
            sampler = TreeSampler(proc.pid)
            returncode = proc.wait()
            peak_mib = sampler.stop()
        wall_s = time.time() - started
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = {
            "leadsync": reaped.ru_utime + reaped.ru_stime - children.ru_utime - children.ru_stime,
            "postgres": sampler.postgres_cpu_seconds,
        }
        if returncode != 0:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise SystemExit(f"backfill failed ({returncode}):\n" + "\n".join(tail))
        after = sandbox.stats()
        calls, uploaded = (
            {
                k: v - before[part].get(k, 0)
                for k, v in after[part].items()
                if v - before[part].get(k, 0)
            }
            for part in ("by_endpoint", "bulk_upload_bytes")
        )
        outcome = sandbox.ask("verify")
        sandbox_rss = sandbox.ask("rss")
        cpu["sandbox"] = sandbox_rss["cpu_seconds"] - sandbox_cpu
        size_mib = store_mib(store_url)
    finally:
        if not args.store_url and not args.keep:
            drop_database(args.pg_url, store_url)
    # The defaults the run used: the config sets no thresholds or page size.
    settings = SalesforceSettings(
        login_url=ready["url"],
        auth="client_credentials",
        client_id=ready["client_id"],
        client_secret=ready["client_secret"],
    )
    events = list(log_events(log_path))
    phases = phases_from_log(events, started, started + wall_s)
    result = json.loads((folder / "backfill.json").read_text() or "null") or {}
    # Every record the backfill sent counts, rejected ones too (they cost their place in a
    # call). Contacts are written as they are found scored; the rest of what was sent is Lead.
    sent = int(sum((result.get("written") or {}).values())) + int(
        sum((result.get("rejected") or {}).values())
    )
    contacts = outcome["Contact"]["scored"]
    written = {"Lead": max(0, sent - contacts), "Contact": contacts}
    # Only leads refuse edits here (legal hold), so every rejection is a Lead's.
    refused = {"Lead": int(sum((result.get("rejected") or {}).values()))}
    minimum = minimum_calls(ready["rows"], written, settings, refused, uploaded)
    total = sum(calls.values())
    return {
        "leads": args.leads,
        "activities": args.activities,
        "seed": args.seed,
        "rows": ready["rows"],
        "wall_seconds": round(wall_s, 1),
        "phases": phases,
        "calls": {"total": total, "by_endpoint": dict(sorted(calls.items()))},
        "minimum": {"total": minimum.total, "parts": minimum.parts, "rules": minimum.rules},
        "over_minimum": round(total / minimum.total - 1, 4),
        "peak_rss_mib": round(peak_mib, 1),
        "rss_samples": sampler.samples,
        "peak_rss_phase": phase_at(phases, started, sampler.peak_at),
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "sandbox": {
            "generate_seconds": ready["generate_seconds"],
            "rss_mib_ready": round(ready["rss_mib"], 1),
            "rss_mib_after": round(sandbox_rss["rss_mib"], 1),
            "peak_rss_mib": round(sandbox_rss["peak_rss_mib"], 1),
        },
        "store_mib": round(size_mib, 1),
        "database": {
            "name": sa.engine.make_url(store_url).database,
            "kept": bool(args.store_url or args.keep),
        },
        "outcome": outcome,
        "result": result,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def phases_from_log(events: list[dict[str, Any]], started: float, ended: float) -> dict[str, Any]:
    """Where the backfill's wall time went, from its log.

    The engine logs ``sync.phase`` as each phase starts (pull people, pull activities, score,
    write); a phase lasts until the next one starts, the last until the process ends, and
    ``startup`` is the time before the first (imports, config, store). Inside a pull phase,
    each object's pull ends with ``salesforce.pull.done`` and starts where the previous
    object (or the phase) ended.
    """
    marks: list[tuple[str, float]] = []
    pulls: list[dict[str, Any]] = []
    mark = started
    for event in events:
        at = _at(event)
        if at is None:
            continue
        name = event.get("event")
        if name == "sync.phase":
            marks.append((str(event.get("phase")), at))
            mark = at
        elif name == "salesforce.pull.done":
            rows, seconds = int(event.get("count") or 0), at - mark
            sobject = str(event.get("object"))
            if any(p["object"] == sobject for p in pulls):
                # Read again before the write: what others changed since the pull began.
                sobject += " (catch-up)"
            pulls.append(
                {
                    "object": sobject,
                    "rows": rows,
                    "api": event.get("api"),
                    "seconds": round(seconds, 1),
                    "rows_per_s": round(rows / seconds) if seconds > 0 else None,
                }
            )
            mark = at
    phases = [
        {"phase": "startup", "seconds": round((marks[0][1] if marks else ended) - started, 1)}
    ]
    for index, (phase, at) in enumerate(marks):
        until = marks[index + 1][1] if index + 1 < len(marks) else ended
        phases.append({"phase": phase, "seconds": round(until - at, 1)})
    return {"phases": phases, "pull": pulls}


def phase_at(phases: Mapping[str, Any], started: float, moment: float) -> str:
    """The logged phase running at ``moment`` (phases follow each other from ``started``)."""
    end = started
    for phase in phases["phases"]:
        end += phase["seconds"]
        if moment <= end:
            return str(phase["phase"])
    if phases["phases"] and moment <= end + SAMPLE_EVERY_S:
        # Sampled as the process wound down: what it held was the last phase's memory.
        return str(phases["phases"][-1]["phase"])
    return "after the last phase"


def render(report: Mapping[str, Any]) -> str:
    rows = report["rows"]
    phases = report["phases"]
    minimum = report["minimum"]
    lines = [
        f"backfill of {report['leads']:,} leads / {report['activities']:,} activities "
        f"({sum(rows.values()):,} rows pulled) into PostgreSQL",
        f"machine: {report['cpus']} CPUs, load {report['load_before']} -> {report['load_after']}",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| wall time | {report['wall_seconds']:,.1f} s | < {TARGET_SECONDS} s |",
        f"| peak RSS, leadsync process tree | {report['peak_rss_mib']:,.0f} MiB "
        f"({report['rss_samples']} samples; peak during {report['peak_rss_phase']}) "
        f"| < {TARGET_RSS_MIB:,.0f} MiB |",
        f"| API calls | {report['calls']['total']:,} (minimum {minimum['total']:,}, "
        f"{report['over_minimum'] * 100:+.1f} %) | within {TARGET_OVER_MIN * 100:.0f} % |",
        f"| CPU | leadsync {report['cpu_seconds']['leadsync']:,.1f} s, sandbox "
        f"{report['cpu_seconds']['sandbox']:,.1f} s, PostgreSQL (server-wide) "
        f"{report['cpu_seconds']['postgres']:,.1f} s | |",
        f"| store size | {report['store_mib']:,.0f} MiB | |",
        *(
            f"| {name}s carrying a score in the org | {o['scored_editable']:,} of "
            f"{o['editable']:,} editable ({o['live']:,} live) | all |"
            for name, o in report["outcome"].items()
        ),
        f"| sandbox | generated in {report['sandbox']['generate_seconds']} s, RSS "
        f"{report['sandbox']['rss_mib_ready']:,.0f} MiB ready, "
        f"{report['sandbox']['peak_rss_mib']:,.0f} MiB peak | |",
        "",
        "| phase | seconds | share |",
        "| --- | --- | --- |",
        *(
            f"| {p['phase']} | {p['seconds']:,.1f} | "
            f"{p['seconds'] / max(report['wall_seconds'], 1e-9) * 100:.0f} % |"
            for p in phases["phases"]
        ),
        "",
        "| pull | rows | seconds | rows/s | API |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {p['object']} | {p['rows']:,} | {p['seconds']:,.1f} | "
            f"{p['rows_per_s'] or 0:,} | {p['api']} |"
            for p in phases["pull"]
        ),
        "",
        "| calls by endpoint | count |",
        "| --- | --- |",
        *(f"| {name} | {n:,} |" for name, n in report["calls"]["by_endpoint"].items()),
        "",
        "| minimum | calls | rule |",
        "| --- | --- | --- |",
        *(f"| {part} | {n:,} | {minimum['rules'][part]} |" for part, n in minimum["parts"].items()),
    ]
    return "\n".join(lines)


def met(report: Mapping[str, Any]) -> bool:
    return (
        report["wall_seconds"] < TARGET_SECONDS
        and report["peak_rss_mib"] < TARGET_RSS_MIB
        and report["over_minimum"] <= TARGET_OVER_MIN
        and all(o["scored_editable"] == o["editable"] for o in report["outcome"].values())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("LEADSYNC_TEST_PG_URL") or DEFAULT_PG,
        help="admin URL of the PostgreSQL server the bench creates its database on",
    )
    parser.add_argument("--store-url", help="use this (existing) store instead of a fresh one")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--logs", type=Path, help="keep leadsync's log and output here")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return 0

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="leadsync-backfill-") as tmp:
        folder = Path(args.logs) if args.logs else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        report = run(args, folder, say)
    report["command"] = "python bench/backfill.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0 if met(report) else 1


if __name__ == "__main__":
    sys.exit(main())
