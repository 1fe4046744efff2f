"""``leadsync install`` / ``uninstall`` on the HubSpot sandbox, through the command line:
the plan printed, a dry run that changes nothing, a second install with nothing to do."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from leadsync.sandboxes import Sandboxes, running_sandboxes

CLI = [sys.executable, "-c", "from leadsync.cli import main; main()"]
LISTS = ("list LeadSync: hand-raisers", "list LeadSync: recycled to nurture")


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    with running_sandboxes(leads=20, seed=5) as sb:
        yield sb


def leadsync(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [*CLI, "--config", str(config), *args, "--connector", "hubspot", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def pending(report: dict[str, Any]) -> dict[str, str]:
    return {
        s["what"]: s["outcome"] for s in report["steps"]["hubspot"] if s["change"] != "unchanged"
    }


@pytest.mark.slow
def test_install_dry_run_install_twice_and_uninstall(sandboxes: Sandboxes, tmp_path: Path) -> None:
    config = tmp_path / "leadsync.toml"
    config.write_text(tomli_w.dumps(sandboxes.config_data(f"sqlite:///{tmp_path / 'state.db'}")))
    config.chmod(0o600)
    lists_before = {x.name for x in sandboxes.hubspot.portal.lists.values()}

    code, dry = leadsync(config, "install", "--dry-run")
    assert code == 0 and dry["dry_run"]
    assert set(LISTS) <= set(pending(dry)) and set(pending(dry).values()) == {"update", "create"}
    assert {x.name for x in sandboxes.hubspot.portal.lists.values()} == lists_before

    code, done = leadsync(config, "install")
    assert code == 0 and done["ok"]
    assert set(pending(done).values()) == {"done"} and pending(done).keys() == pending(dry).keys()
    code, again = leadsync(config, "install")
    assert code == 0 and pending(again) == {}

    code, removed = leadsync(config, "uninstall")
    assert code == 0 and pending(removed) == {what: "done" for what in LISTS}
    assert {x.name for x in sandboxes.hubspot.portal.lists.values()} == lists_before
