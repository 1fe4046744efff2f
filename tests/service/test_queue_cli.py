"""``leadsync queue-backfill`` and ``leadsync backfills``: the CLI side of the backfill queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from leadsync.sandboxes import running_sandboxes
from tests.service.helpers import RUN


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with running_sandboxes(leads=10, seed=3) as world:
        data = world.config_data(f"sqlite:///{tmp_path / 'leadsync.db'}")
    path = tmp_path / "leadsync.toml"
    path.write_text(tomli_w.dumps(data))
    os.chmod(path, 0o600)
    yield path


def _leadsync(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, "--config", str(config), *args],
        cwd=config.parent,
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "COLUMNS": "200",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_queue_join_list_and_refuse_an_unknown_connector(config: Path) -> None:
    first = _leadsync(
        config, "queue-backfill", "--connector", "hubspot", "--since", "2026-01-15", "--json"
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"id": 1, "queued": True}
    again = _leadsync(config, "queue-backfill", "--connector", "hubspot", "--since", "2026-01-15")
    assert again.returncode == 0 and "already queued as request 1" in again.stdout
    dry = _leadsync(config, "queue-backfill", "--dry-run", "--no-actions")
    assert dry.returncode == 0 and "Queued backfill request 2" in dry.stdout

    listed = _leadsync(config, "backfills", "--json")
    assert listed.returncode == 0, listed.stderr
    requests = json.loads(listed.stdout)
    assert [(r["id"], r["state"], r["connectors"], r["dry_run"]) for r in requests] == [
        (2, "queued", [], True),
        (1, "queued", ["hubspot"], False),
    ]
    assert requests[1]["since"].startswith("2026-01-15") and requests[1]["requested_by"] == "cli"
    table = _leadsync(config, "backfills")
    assert "hubspot since 2026-01-15" in table.stdout and "dry-run, no actions" in table.stdout

    unknown = _leadsync(config, "queue-backfill", "--connector", "marketo")
    assert unknown.returncode == 2
    assert "no connector named marketo; configured: salesforce, hubspot" in unknown.stderr
