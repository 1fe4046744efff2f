"""Issue 24 #3: every problem ``leadsync check`` prints names the mapping file it read.

After ``pip install .`` the shipped map is the installed copy, and a config's ``mapping =``
resolves against the config's folder, not the working directory: "edit mappings/hubspot.toml"
would send an admin to the wrong file. Each line names the absolute path instead.
"""

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
from mappings import default_mapping_path

CLI = [sys.executable, "-c", "from leadsync.cli import main; main()"]


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    with running_sandboxes(leads=60, seed=5) as sb:
        yield sb


def check(config: Path, cwd: Path) -> tuple[int, dict[str, list[str]]]:
    done = subprocess.run(
        [*CLI, "--config", str(config), "check", "--json"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)["problems"]


def write_config(sandboxes: Sandboxes, folder: Path, changes: dict[str, Any]) -> Path:
    """The sandboxes' config in ``folder`` with ``changes`` to its sections."""
    folder.mkdir(exist_ok=True)
    data = sandboxes.config_data(f"sqlite:///{folder / 'state.db'}")
    for section, keys in changes.items():
        for key, value in keys.items():
            if isinstance(value, dict):
                data[section][key].update(value)
            else:
                data[section][key] = value
    config = folder / "leadsync.toml"
    config.write_text(tomli_w.dumps(data))
    config.chmod(0o600)
    return config


@pytest.mark.slow
def test_a_relative_mapping_is_named_by_its_absolute_path(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    # `mapping =` relative to a config outside the working directory; each map reads a
    # custom field or property the org and portal lack.
    maps = tmp_path / "conf" / "maps"
    maps.mkdir(parents=True)
    hubspot = default_mapping_path("hubspot").read_text()
    hubspot = hubspot.replace('# ownership = "ownership"', 'ownership = "acme_ownership"')
    salesforce = default_mapping_path("salesforce").read_text()
    salesforce = salesforce.replace("Ownership__c", "Acme_Ownership__c")
    (maps / "hubspot.toml").write_text(hubspot)
    (maps / "salesforce.toml").write_text(salesforce)
    relative = {crm: {"mapping": f"maps/{crm}.toml"} for crm in ("hubspot", "salesforce")}
    config = write_config(sandboxes, tmp_path / "conf", {"connectors": relative})
    code, problems = check(config, cwd=tmp_path)
    assert code == 1
    for crm, custom in (("hubspot", "acme_ownership"), ("salesforce", "Acme_Ownership__c")):
        read = str((maps / f"{crm}.toml").resolve())
        assert problems[crm], crm
        assert all(read in line for line in problems[crm]), problems[crm]
        (missing,) = [line for line in problems[crm] if custom in line]
        assert "custom" in missing and f"create {custom}" in missing, missing
        assert f"another field in {read}" in missing or f"another property in {read}" in missing


@pytest.mark.slow
def test_the_shipped_map_is_named_where_it_was_read(sandboxes: Sandboxes, tmp_path: Path) -> None:
    config = write_config(sandboxes, tmp_path / "conf", {"recycle": {"nurture_list": "999999"}})
    code, problems = check(config, cwd=tmp_path)
    assert code == 1 and problems["salesforce"] == []
    (line,) = problems["hubspot"]
    assert "no list with this id" in line
    assert str(default_mapping_path("hubspot").resolve()) in line
