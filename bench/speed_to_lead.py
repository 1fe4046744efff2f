"""Speed-to-lead: from a hand-raiser's form submission to the rep's task existing in the CRM.

For each mode a fresh generated world (Salesforce org + HubSpot portal sharing a third of the
people) is served over HTTP(S) from this process, a throwaway SQLite store is backfilled with
``leadsync backfill --no-actions`` (existing leads keep their owners), and then ``leadsync run``
runs as a real subprocess against it. While it polls, this process submits "Contact Us" forms
for leads that are not hand-raisers yet, at random moments spread over several poll
intervals, and watches the Salesforce org in-process every 50 ms for the hand-off task
(``LeadSync_Key__c`` set, ``WhoId`` = the lead, or another Salesforce record of the same
person: a Contact with the lead's email keeps its owner and gets the task). Latency = task
first seen - submission.

Two kinds of submission, interleaved:

* ``hubspot``: the lead's email submits HubSpot's Contact Us form (the person is in both
  CRMs; a HubSpot cycle pulls the submission, scoring moves the Salesforce lead, the act phase
  sends its owner change and task to Salesforce, the sales CRM);
* ``salesforce``: a ``Form_Submission__c`` (Form_Name__c "Contact Us", Lead__c) is inserted in
  the org, as a web-to-lead style integration would; a Salesforce cycle pulls it.

Modes: ``poll60`` and ``poll15`` (``[sync] interval_seconds`` 60 and 15; targets: p95 within
the interval + 5 s) and ``webhook`` (the HubSpot sandbox delivers signed
``contact.propertyChange`` webhooks for ``recent_conversion_date`` to ``leadsync run``, which
triggers a HubSpot cycle; the poll interval is left at 300 s so polling plays no part;
target: p95 under 2 s; HubSpot submissions only, Salesforce sends no webhooks).

Each sample is also split, from ``leadsync run``'s own log, into the wait before the cycle
that handled it started and the work inside that cycle until the task existed.

Run: ``python bench/speed_to_lead.py [--quick] [--modes poll60,poll15,webhook] [--json]``.
About 8 minutes for all modes (20 submissions per kind per mode); ``--quick``: 6 per kind and
one interval of spread, about 4 minutes. Results and how to read them: ``bench/speed_to_lead.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import tomli_w

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from leadsync.logs import configure as configure_logs  # noqa: E402
from leadsync.sandboxes import Sandboxes, running_sandboxes  # noqa: E402

WEBHOOK_PATH = "/webhooks/hubspot"
#: The HubSpot change a hand-raise makes that the webhook mode subscribes to.
WEBHOOK_EVENTS = ("contact.propertyChange:recent_conversion_date",)
WATCH_EVERY_S = 0.05
FORM_NAME = "Contact Us"


@dataclass(frozen=True)
class Mode:
    name: str
    interval_s: int
    webhook: bool
    sources: tuple[str, ...]

    @property
    def target_p95_s(self) -> float:
        return 2.0 if self.webhook else self.interval_s + 5.0

    def meets(self, p95: float) -> bool:
        return p95 < self.target_p95_s if self.webhook else p95 <= self.target_p95_s

    @property
    def target_text(self) -> str:
        if self.webhook:
            return "p95 < 2 s"
        return f"p95 <= {self.interval_s} + 5 s"


MODES = {
    "poll60": Mode("poll60", 60, False, ("hubspot", "salesforce")),
    "poll15": Mode("poll15", 15, False, ("hubspot", "salesforce")),
    "webhook": Mode("webhook", 300, True, ("hubspot",)),
}


@dataclass
class Sample:
    source: str
    email: str
    lead_id: str
    #: Every Salesforce record of the person (the lead, and a contact or lead with the same
    #: email): routing may hand the person off on another of them (a contact keeps its owner).
    who_ids: frozenset[str] = frozenset()
    submitted_wall: float = 0.0
    submitted_mono: float = 0.0
    task_mono: float | None = None
    task_wall: float | None = None
    wait_s: float | None = None
    work_s: float | None = None

    @property
    def latency_s(self) -> float | None:
        if self.task_mono is None:
            return None
        return self.task_mono - self.submitted_mono


@dataclass
class ModeResult:
    mode: Mode
    samples: list[Sample]
    cycles: list[dict[str, Any]]
    setup_s: float
    backfill_s: float
    window_s: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    service_cpu_s: float
    webhook_stats: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        by_source: dict[str, Any] = {}
        for source in self.mode.sources:
            chosen = [s for s in self.samples if s.source == source]
            by_source[source] = _stats(chosen, self.mode)
        every = _stats(self.samples, self.mode)
        cycle_s = {
            name: _spread([c["seconds"] for c in self.cycles if c["connector"] == name])
            for name in sorted({c["connector"] for c in self.cycles})
        }
        return {
            "mode": self.mode.name,
            "interval_seconds": self.mode.interval_s,
            "webhooks": self.mode.webhook,
            "target": self.mode.target_text,
            "all": every,
            "by_source": by_source,
            "cycles": {
                name: {"count": sum(1 for c in self.cycles if c["connector"] == name), **spread}
                for name, spread in cycle_s.items()
            },
            "submission_window_seconds": round(self.window_s, 1),
            "setup_seconds": round(self.setup_s, 1),
            "backfill_seconds": round(self.backfill_s, 1),
            "load_before": [round(x, 2) for x in self.load_before],
            "load_after": [round(x, 2) for x in self.load_after],
            "service_cpu_seconds": round(self.service_cpu_s, 1),
            "webhook_deliveries": self.webhook_stats,
            "samples": [
                {
                    "source": s.source,
                    "lead": s.lead_id,
                    "latency_s": _r(s.latency_s),
                    "wait_s": _r(s.wait_s),
                    "work_s": _r(s.work_s),
                }
                for s in self.samples
            ],
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "max": round(max(values), 3),
    }


def _stats(samples: Sequence[Sample], mode: Mode) -> dict[str, Any]:
    done = [s.latency_s for s in samples if s.latency_s is not None]
    waits = [s.wait_s for s in samples if s.wait_s is not None]
    works = [s.work_s for s in samples if s.work_s is not None]
    out: dict[str, Any] = {
        "submitted": len(samples),
        "tasks_seen": len(done),
        "latency": _spread(done),
        "wait_for_cycle": _spread(waits),
        "work_in_cycle": _spread(works),
    }
    p95 = out["latency"]["p95"]
    out["met"] = bool(done) and len(done) == len(samples) and p95 is not None and mode.meets(p95)
    return out


# -- the world ------------------------------------------------------------------------------------


def pick_targets(world: Sandboxes, count: dict[str, int], rng: random.Random) -> list[Sample]:
    """Leads that can become hand-raisers now: scored, team not sales, not converted/opted out.

    Leads under legal hold are left out: the org's validation rule refuses their owner change,
    so their hand-off never gets as far as a task (a refusal, not a latency).

    ``hubspot`` targets share their email with a HubSpot contact; ``salesforce`` ones do not
    need to. No person is used twice (a second hand-raise would not be a new hand-off).
    """
    shared = set(world.shared_emails)
    leads = [
        r
        for r in world.salesforce.org.records("Lead")
        if r.get("Email")
        and not r.get("IsConverted")
        and not r.get("HasOptedOutOfEmail")
        and not r.get("Legal_Hold__c")
        and r.get("LeadSync_Readiness__c") not in (None, "Hand-raiser")
        and str(r.get("LeadSync_Team__c") or "").lower() != "sales"
    ]
    rng.shuffle(leads)
    hubspot = [r for r in leads if r["Email"] in shared]
    others = [r for r in leads if r["Email"] not in shared]
    records: dict[str, set[str]] = {}
    for sobject in ("Lead", "Contact"):
        for row in world.salesforce.org.records(sobject):
            if row.get("Email"):
                records.setdefault(str(row["Email"]).lower(), set()).add(row["Id"])
    picked: list[Sample] = []
    for source, pool in (("hubspot", hubspot), ("salesforce", others + hubspot)):
        want = count.get(source, 0)
        used = {s.lead_id for s in picked}
        chosen = [r for r in pool if r["Id"] not in used][:want]
        if len(chosen) < want:
            raise SystemExit(f"only {len(chosen)} {source} candidates for {want} samples")
        picked += [
            Sample(source, r["Email"], r["Id"], frozenset(records[r["Email"].lower()]))
            for r in chosen
        ]
    return picked


def contact_us_guid(world: Sandboxes) -> str:
    for guid, form in world.hubspot.portal.forms.items():
        if form.name == FORM_NAME:
            return guid
    raise SystemExit("the generated HubSpot portal has no Contact Us form")


def submit(world: Sandboxes, sample: Sample, guid: str) -> None:
    sample.submitted_wall = time.time()
    sample.submitted_mono = time.monotonic()
    if sample.source == "hubspot":
        world.hubspot.portal.add_form_submission(
            guid, {"email": sample.email}, page_url="https://www.example-corp.com/contact"
        )
    else:
        world.salesforce.org.insert(
            "Form_Submission__c",
            {
                "Lead__c": sample.lead_id,
                "Email__c": sample.email,
                "Form_Name__c": FORM_NAME,
                "Page_URL__c": "https://www.example-corp.com/contact",
                "Submitted_At__c": datetime.now(UTC),
            },
        )


class TaskWatcher:
    """Polls the org every 50 ms for new LeadSync tasks on the watched leads."""

    def __init__(self, world: Sandboxes, samples: Sequence[Sample]) -> None:
        self.org = world.salesforce.org
        self.by_who = {who: s for s in samples for who in s.who_ids | {s.lead_id}}
        self.seen = len(self.org.rows("Task"))
        self.pending = len(samples)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="task-watcher", daemon=True)

    def run(self) -> None:
        while not self.stop.wait(WATCH_EVERY_S):
            rows = self.org.rows("Task")
            now_mono, now_wall = time.monotonic(), time.time()
            for row in rows[self.seen :]:
                sample = self.by_who.get(str(row.get("WhoId") or ""))
                if sample is None or not row.get("LeadSync_Key__c") or sample.task_mono:
                    continue
                if not sample.submitted_mono:
                    continue  # a hand-off we did not cause (cannot happen for unsubmitted leads)
                sample.task_mono, sample.task_wall = now_mono, now_wall
                self.pending -= 1
            self.seen = len(rows)


# -- the service ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def leadsync_cmd() -> list[str]:
    script = Path(sys.executable).with_name("leadsync")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from leadsync.cli import main; main()"]


def child_env() -> dict[str, str]:
    """The environment for ``leadsync``: this tree first on the path, so the service runs the
    same code as the benchmark (not whatever an editable install points at)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
    return env


def write_config(world: Sandboxes, folder: Path, mode: Mode, port: int) -> Path:
    data = world.config_data(f"sqlite:///{folder / 'leadsync.db'}")
    data["sync"] = {**data.get("sync", {}), "interval_seconds": mode.interval_s}
    data["service"] = {"host": "127.0.0.1", "port": port, "webhook_path": WEBHOOK_PATH}
    path = folder / "leadsync.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        tomli_w.dump(data, out)
    return path


def log_events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def cycles_from_log(path: Path) -> list[dict[str, Any]]:
    """Each finished cycle: connector, start and end (wall seconds), duration."""
    started: dict[str, float] = {}
    cycles = []
    for event in log_events(path):
        name, when = event.get("event"), event.get("timestamp")
        if not when:
            continue
        at = datetime.fromisoformat(str(when).replace("Z", "+00:00")).timestamp()
        if name == "service.cycle_started":
            started[event["connector"]] = at
        elif name == "service.cycle_finished":
            begin = started.pop(event["connector"], None)
            seconds = float(event.get("seconds") or 0.0)
            cycles.append(
                {
                    "connector": event["connector"],
                    "start": begin if begin is not None else at - seconds,
                    "end": at,
                    "seconds": seconds,
                    "status": event.get("status"),
                }
            )
    return cycles


def attribute(samples: Sequence[Sample], cycles: Sequence[dict[str, Any]]) -> None:
    """Split each latency at the start of the cycle during which its task appeared."""
    for sample in samples:
        if sample.task_wall is None:
            continue
        during = [
            c
            for c in cycles
            if c["start"] - 0.01 <= sample.task_wall <= c["end"] + WATCH_EVERY_S + 0.05
        ]
        if not during:
            continue
        cycle = during[0]
        sample.wait_s = max(0.0, cycle["start"] - sample.submitted_wall)
        sample.work_s = sample.task_wall - max(cycle["start"], sample.submitted_wall)


def wait_for(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"leadsync run exited ({proc.returncode}) while waiting for {what}")
        if predicate():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_mode(
    mode: Mode,
    *,
    per_source: int,
    spread: int,
    webhook_window: float,
    leads: int,
    seed: int,
    say: Any,
    keep_logs: Path | None = None,
    settle_s: float = 0.0,
) -> ModeResult:
    rng = random.Random(f"{seed}:{mode.name}")
    began = time.monotonic()
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix=f"leadsync-stl-{mode.name}-") as tmp,
        running_sandboxes(leads, seed) as world,
    ):
        folder = Path(tmp)
        port = free_port()
        config = write_config(world, folder, mode, port)
        cmd = [*leadsync_cmd(), "--config", str(config)]
        say(f"[{mode.name}] backfill (--no-actions) of {leads:,} leads ...")
        backfill_started = time.monotonic()
        backfill_log = folder / "backfill.log"
        with backfill_log.open("wb") as errors:
            done = subprocess.run(
                [*cmd, "backfill", "--no-actions", "--json"],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=child_env(),
            )
        if done.returncode != 0:
            tail = backfill_log.read_text(errors="replace").splitlines()[-15:]
            raise SystemExit(f"backfill failed ({done.returncode}):\n" + "\n".join(tail))
        backfill_done = time.monotonic()
        backfill_s = backfill_done - backfill_started
        samples = pick_targets(world, {s: per_source for s in mode.sources}, rng)
        guid = contact_us_guid(world)
        log_path = folder / "run.log"
        cpu_before = child_cpu()
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [*cmd, "run", "--grace", "30"], stderr=log_file, env=child_env()
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _healthy(base), 60, "/healthz", proc)
            connectors = {"salesforce", "hubspot"}
            wait_for(
                lambda: {c["connector"] for c in cycles_from_log(log_path)} >= connectors,
                120,
                "the first cycle of each connector",
                proc,
            )
            if settle_s > 0:
                say(f"[{mode.name}] settling {settle_s:.0f} s after the backfill ...")
                time.sleep(max(0.0, backfill_done + settle_s - time.monotonic()))
            if mode.webhook:
                world.hubspot.subscribe_webhooks(base + WEBHOOK_PATH, events=WEBHOOK_EVENTS)
            setup_s = time.monotonic() - began
            window = float(webhook_window if mode.webhook else mode.interval_s * spread)
            offsets = sorted(rng.uniform(0, window) for _ in samples)
            rng.shuffle(samples)
            watcher = TaskWatcher(world, samples)
            watcher.thread.start()
            say(
                f"[{mode.name}] {len(samples)} submissions over {window:.0f} s "
                f"(interval {mode.interval_s} s{', webhooks' if mode.webhook else ''}) ..."
            )
            start = time.monotonic()
            for offset, sample in zip(offsets, samples, strict=True):
                delay = start + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                submit(world, sample, guid)
            linger_s = (5.0 if mode.webhook else mode.interval_s) + 60.0
            deadline = time.monotonic() + linger_s
            while watcher.pending > 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            watcher.stop.set()
            watcher.thread.join()
            webhook_stats: dict[str, int] = {}
            if mode.webhook:
                stats = world.hubspot.stats().get("webhooks") or [{}]
                webhook_stats = {k: int(v) for k, v in stats[0].items() if isinstance(v, int)}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        load_after = os.getloadavg()
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for name in ("backfill.log", "run.log"):
                shutil.copyfile(folder / name, keep_logs / f"{mode.name}.{name}")
        cycles = cycles_from_log(log_path)
        attribute(samples, cycles)
        return ModeResult(
            mode=mode,
            samples=samples,
            cycles=cycles,
            setup_s=setup_s,
            backfill_s=backfill_s,
            window_s=window,
            load_before=load_before,
            load_after=load_after,
            service_cpu_s=child_cpu() - cpu_before,
            webhook_stats=webhook_stats,
        )


def _healthy(base: str) -> bool:
    try:
        return requests.get(base + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


# -- output ---------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(results: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        f"speed-to-lead: {meta['command']}",
        f"machine: {meta['cpus']} CPUs, load {meta['load_start']} at start, "
        f"{meta['load_end']} at end; total {meta['total_seconds']:.0f} s",
        "",
        "mode     source      n   seen  p50 s   p95 s   max s   wait p50/p95   work p50/p95"
        "   target            met",
    ]
    for result in results:
        rows = [("all", result["all"]), *result["by_source"].items()]
        if len(result["by_source"]) == 1:
            rows = rows[1:]
        for source, stats in rows:
            lat, wait, work = stats["latency"], stats["wait_for_cycle"], stats["work_in_cycle"]
            out.append(
                f"{result['mode']:<8} {source:<11} {stats['submitted']:>2} {stats['tasks_seen']:>5}"
                f"  {_fmt(lat['p50']):>6}  {_fmt(lat['p95']):>6}  {_fmt(lat['max']):>6}"
                f"   {_fmt(wait['p50']):>5}/{_fmt(wait['p95']):<6}  "
                f"{_fmt(work['p50']):>5}/{_fmt(work['p95']):<6}  {result['target']:<17} "
                f"{'yes' if stats['met'] else 'NO'}"
            )
        cycles = ", ".join(
            f"{name} {c['count']} cycles p50 {_fmt(c['p50'])} s max {_fmt(c['max'])} s"
            for name, c in result["cycles"].items()
        )
        out.append(
            f"         cycles: {cycles}; backfill {result['backfill_seconds']} s; "
            f"leadsync run CPU {result['service_cpu_seconds']} s; "
            f"load {result['load_before']} -> {result['load_after']}"
        )
        if result["webhook_deliveries"]:
            out.append(f"         webhook deliveries: {result['webhook_deliveries']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--modes", default="poll60,poll15,webhook")
    parser.add_argument("--samples", type=int, default=None, help="submissions per kind per mode")
    parser.add_argument(
        "--spread",
        type=int,
        default=None,
        help="polling modes: the submission window in poll intervals (default 3; quick 1)",
    )
    parser.add_argument("--quick", action="store_true", help="6 submissions per kind, spread 1")
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--logs", type=Path, help="keep each mode's leadsync logs in this folder")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds after the backfill before the first submission (past [sync] "
        "overlap_seconds, 120, the cycles stop re-reading the contacts the backfill wrote)",
    )
    args = parser.parse_args(argv)
    per_source = args.samples or (6 if args.quick else 20)
    spread = args.spread or (1 if args.quick else 3)
    names = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; choose from {sorted(MODES)}")

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # The in-process sandboxes log every start and token; keep stdout for the results.
    configure_logs(json_lines=False, level="warning")

    began = time.monotonic()
    load_start = os.getloadavg()
    results = [
        run_mode(
            MODES[n],
            per_source=per_source,
            spread=spread,
            webhook_window=30.0 if args.quick else 60.0,
            leads=args.leads,
            keep_logs=args.logs,
            settle_s=args.settle,
            seed=args.seed,
            say=say,
        ).summary()
        for n in names
    ]
    meta = {
        "command": "python bench/speed_to_lead.py " + " ".join(argv or sys.argv[1:]),
        "cpus": os.cpu_count(),
        "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "total_seconds": round(time.monotonic() - began, 1),
        "leads": args.leads,
        "seed": args.seed,
        "per_source": per_source,
        "spread": spread,
        "webhook_window_seconds": 30.0 if args.quick else 60.0,
        "settle_seconds": args.settle,
    }
    if args.json:
        print(json.dumps({"meta": meta, "modes": results}, indent=2))
    else:
        print(render(results, meta))
    return 0 if all(r["all"]["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
