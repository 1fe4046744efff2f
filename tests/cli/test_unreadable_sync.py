"""The reported case, as users run it: a Salesforce form submission whose mapped time field
holds "2024-13-45T99:99:99Z" (and one "yesterday"), HubSpot configured too.

The org keeps submission times in a Text field (``Submitted_At_Text__c``) the mapping reads as
the submission time: a real org can hold any text there (a true Date/Time field cannot hold
garbage, in a real org or in the sandbox). Before: ``sync`` died with a traceback (exit 1, no
JSON), HubSpot was never pulled, and deleting the record did not help (queryAll re-reads the
recycle bin).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from leadsync.config.loading import read_toml
from leadsync.sandboxes import Sandboxes, running_sandboxes
from mappings import default_mapping_path
from sandboxes.salesforce.schema import FieldDef

TEXT_TIME = "Submitted_At_Text__c"
GARBAGE = ("2024-13-45T99:99:99Z", "yesterday")


def leadsync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from leadsync.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def world() -> Iterator[Sandboxes]:
    with running_sandboxes(leads=80, seed=21) as sandboxes:
        sandboxes.salesforce.org.add_field(
            "Form_Submission__c",
            FieldDef(TEXT_TIME, "string", "Submitted At (text)", length=255, custom=True),
        )
        yield sandboxes


@pytest.fixture
def config(tmp_path: Path, world: Sandboxes) -> Path:
    mapping = read_toml(default_mapping_path("salesforce"))
    mapping["activities"]["forms"]["submitted_at_field"] = TEXT_TIME
    (tmp_path / "salesforce.toml").write_text(tomli_w.dumps(mapping))
    data = world.config_data(f"sqlite:///{tmp_path / 'state.db'}")
    data["connectors"]["salesforce"]["mapping"] = "salesforce.toml"
    path = tmp_path / "leadsync.toml"
    path.write_text(tomli_w.dumps(data))
    path.chmod(0o600)
    return path


def _submit(world: Sandboxes, when: str) -> str:
    org = world.salesforce.org
    lead = next(r for r in org.records("Lead") if r.get("Email") and not r.get("IsConverted"))
    return org.insert(
        "Form_Submission__c",
        {"Lead__c": lead["Id"], "Email__c": lead["Email"], "Form_Name__c": "Demo", TEXT_TIME: when},
    )


def _sync(config: Path, cwd: Path) -> dict[str, Any]:
    result = leadsync("--config", str(config), "sync", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return dict(json.loads(result.stdout))  # exactly one JSON document, nothing else


def _unreadable(config: Path, cwd: Path) -> dict[str, Any]:
    result = leadsync("--config", str(config), "status", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout)["unreadable"])


def test_a_garbage_form_time_costs_that_submission_not_the_cycle(
    config: Path, tmp_path: Path, world: Sandboxes
) -> None:
    ids = [_submit(world, text) for text in GARBAGE]

    report = _sync(config, tmp_path)

    assert report["status"] == "ok", report["errors"]
    assert report["pulled"]["hubspot.people"]["inserted"] > 0  # HubSpot pulled too
    assert report["pulled"]["salesforce.activities"]["inserted"] > 0
    found = _unreadable(config, tmp_path)
    bad = {row["crm_id"]: row for row in found["latest"] if row["field"] == TEXT_TIME}
    assert {crm_id: bad[crm_id]["raw"] for crm_id in ids} == dict(zip(ids, GARBAGE, strict=True))
    assert all("not a date-time" in bad[crm_id]["problem"] for crm_id in ids)
    assert {bad[crm_id]["object_type"] for crm_id in ids} == {"Form_Submission__c"}

    human = leadsync("--config", str(config), "status", cwd=tmp_path)
    assert human.returncode == 0
    assert "Unreadable values:" in human.stdout and "'yesterday'" in human.stdout

    checked = leadsync("--config", str(config), "check", cwd=tmp_path)
    assert checked.returncode == 1
    text = " ".join(checked.stdout.split())
    assert f"Form_Submission__c.{TEXT_TIME}: is a string field" in text
    assert "activities.forms.submitted_at_field" in text and "Date/Time" in text

    # Deleting the record (the recycle bin is re-read by queryAll) and fixing the other each
    # clear their value; the cycle stays clean throughout.
    world.salesforce.org.delete("Form_Submission__c", ids[0])
    world.salesforce.org.update(
        "Form_Submission__c", ids[1], {TEXT_TIME: datetime.now(UTC).isoformat()}
    )
    again = _sync(config, tmp_path)
    assert again["status"] == "ok", again["errors"]
    left = {row["crm_id"] for row in _unreadable(config, tmp_path)["latest"]}
    assert not left & set(ids)
