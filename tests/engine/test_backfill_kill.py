"""`leadsync backfill` killed with SIGKILL mid-pull carries on from its last committed page."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from leadsync.sandboxes import Sandboxes, running_sandboxes
from tests.service.helpers import RUN

LEADSYNC = [sys.executable, "-c", RUN]
BACKFILL = ["backfill", "--connector", "salesforce", "--no-actions", "--json"]
LEADS = 3_000
PAGE = 200


@pytest.fixture(scope="module")
def world() -> Iterator[Sandboxes]:
    with running_sandboxes(LEADS, seed=11) as sandboxes:
        yield sandboxes


def _config(world: Sandboxes, folder: Path) -> Path:
    data = world.config_data(f"sqlite:///{folder / 'leadsync.db'}")
    # Bulk from the first 100 rows on, in pages of 200: many pages to be killed between.
    data["connectors"]["salesforce"].update(bulk_query_threshold=100, bulk_page_size=PAGE)
    data.setdefault("sync", {})["pull_batch"] = 100  # a checkpoint every 100 stored records
    path = folder / "leadsync.toml"
    path.write_text(tomli_w.dumps(data))
    path.chmod(0o600)
    return path


def _backfill(config: Path, folder: Path, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*LEADSYNC, "--config", str(config), *BACKFILL],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    """The child's JSON log lines (stderr is not a TTY) for event ``name``."""
    lines = log.read_text().splitlines()
    return [e for e in map(json.loads, filter(None, lines)) if e.get("event") == name]


def _people_checkpoint(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=0.1) as conn:
            row = conn.execute(
                "SELECT records FROM backfill_checkpoints "
                "WHERE connector = 'salesforce' AND stream = 'people' AND NOT done"
            ).fetchone()
    except sqlite3.OperationalError:  # not migrated yet, or busy
        return 0
    return int(row[0]) if row else 0


def _bulk_calls(world: Sandboxes) -> dict[str, int]:
    stats: dict[str, Any] = world.salesforce.stats()
    return {k: v for k, v in stats["by_endpoint"].items() if "jobs/query" in k}


def test_a_killed_backfill_resumes_without_a_new_job_or_the_pages_it_had(
    world: Sandboxes, tmp_path: Path
) -> None:
    config = _config(world, tmp_path)
    world.salesforce.reset_stats()
    # Slow every call a little so the kill lands mid-pull, after a few committed pages.
    world.salesforce.inject({"kind": "delay", "seconds": 0.15, "count": 10_000})
    child = _backfill(config, tmp_path, tmp_path / "first.log")
    deadline = time.monotonic() + 120
    while (done := _people_checkpoint(tmp_path / "leadsync.db")) < 3 * PAGE:
        assert child.poll() is None, "the backfill ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared in time"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    first = _bulk_calls(world)
    world.salesforce.inject({"kind": "clear"})

    again = _backfill(config, tmp_path, tmp_path / "second.log")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    report = json.loads(out)
    second = {k: v - first.get(k, 0) for k, v in _bulk_calls(world).items()}

    assert report["status"] == "ok"
    org = world.salesforce.org
    people = report["pulled"]["salesforce.people"]
    leads = len(org.records("Lead", include_deleted=True))
    contacts = len(org.records("Contact", include_deleted=True))
    # The resumed pull read only what lay past the killed run's last checkpoint (the kill
    # may land after a later one than we saw).
    assert sum(people.values()) <= leads + contacts - done

    # The Lead job was not created again: the second run read on from its saved locator.
    resumed = _events(tmp_path / "second.log", "salesforce.bulk.resume")
    started = [e["object"] for e in _events(tmp_path / "second.log", "salesforce.bulk.query")]
    assert [e["object"] for e in resumed] == ["Lead"] and "Lead" not in started
    # The first run created Lead's job, then (the org counted large) started every later
    # object's job ahead; those ids die with the process, so the second run starts the ones
    # it has not read yet again.
    ahead = [e["object"] for e in _events(tmp_path / "first.log", "salesforce.bulk.query")]
    assert ahead[0] == "Lead" and first["POST /jobs/query"] == len(ahead)
    assert second["POST /jobs/query"] == len(started)
    # Result pages over both runs: each committed page once; only pages fetched but not yet
    # committed when the process died (at most one engine batch of 1,000 rows) are re-read.
    done_rows = {
        e["object"]: e["count"]
        for e in _events(tmp_path / "second.log", "salesforce.pull.done")
        if e["api"] == "bulk" and e["object"] != "Lead"
    }
    pages = -(-leads // PAGE) + sum(-(-rows // PAGE) for rows in done_rows.values())
    read = first["GET /jobs/query/{id}/results"] + second["GET /jobs/query/{id}/results"]
    assert pages <= read <= pages + 1_000 // PAGE

    with sqlite3.connect(tmp_path / "leadsync.db") as conn:
        assert conn.execute("SELECT count(*) FROM backfill_checkpoints").fetchone() == (0,)
        stored = conn.execute(
            "SELECT count(*) FROM crm_records WHERE source = 'salesforce'"
        ).fetchone()[0]
    assert stored == leads + contacts
