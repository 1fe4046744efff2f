"""A third CRM is a package that registers a ``ConnectorType`` in the ``leadsync.connectors``
entry-point group and touches no file of the core (issue 26 #2).

The test installs such a package the way pip would leave it (a module and its ``.dist-info``
with ``entry_points.txt``) on ``PYTHONPATH`` of a ``leadsync`` subprocess: its section is
validated by its own settings model, and ``sync`` pulls from it and writes to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from connectors.registry import connector_types

PLUGIN = '''
"""A toy CRM: the memory CRM of LeadSync's tests, as an installed plug-in would ship one."""
from pathlib import Path
from typing import Any

from connectors.base import Capabilities, ConnectorType
from connectors.settings_base import ConnectorSettingsBase
from tests.engine.memory_crm import MemoryConnector, MemoryCRM


class ToySettings(ConnectorSettingsBase):
    people: int = 3


def build(name: str, settings: Any, config_dir: Path | None) -> MemoryConnector:
    crm = MemoryCRM()
    for i in range(settings.people):
        crm.add_person(f"T{i}", f"t{i}@toy{i}.example", industry="Retail")
    return MemoryConnector(crm, name, capabilities=Capabilities(nurture="list"))


CONNECTOR = ConnectorType(name="toycrm", settings=ToySettings, build=build, rank=50)
'''


def test_a_third_crm_registers_as_a_package_and_syncs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "toycrm_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "toycrm_plugin.py").write_text(PLUGIN)
    (site / "toycrm_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toycrm-plugin\nVersion: 0.1\n"
    )
    (site / "toycrm_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[leadsync.connectors]\ntoycrm = toycrm_plugin:CONNECTOR\n"
    )
    config = tmp_path / "leadsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n\n[connectors.toycrm]\npeople = 4\n'
    )
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(repo)])}
    command = [sys.executable, "-c", "from leadsync.cli import main; main()", "--config"]
    done = subprocess.run(
        [*command, str(config), "sync", "--json"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["written"] == {"toycrm": 4} and report["status"] == "ok"

    config.write_text(config.read_text() + "peeple = 2\n")
    bad = subprocess.run(
        [*command, str(config), "sync"], capture_output=True, text=True, env=env, timeout=120
    )
    assert bad.returncode == 2 and "connectors.toycrm.peeple" in bad.stderr


def test_the_shipped_crms_are_registered_in_rank_order() -> None:
    kinds = connector_types()
    assert list(kinds)[:2] == ["salesforce", "hubspot"]
    assert kinds["salesforce"].capabilities.nurture == "campaign"
    assert kinds["hubspot"].capabilities.nurture == "list"
