"""What ``leadsync check`` finds: every way the config and mappings do not fit the live CRMs.

Whatever a run would warn about in the mapping or the org is reported here first: fields and
properties that are missing, mistyped or read-only; values (picklist values, enumeration
options) a write would be refused for; statuses a hand-off or recycle would set that an object
cannot hold or has no field for; owners, campaigns and lists the config names that do not exist.
Each problem a CRM reports names the mapping file actually read, as an absolute path: after
``pip install .`` the shipped map is the installed copy, not the one in a source checkout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from connectors.base import Connector
from connectors.registry import connector_type
from leadsync.config.settings import Settings
from leadsync.handoff.owners import check_owners
from leadsync.records import CheckProblem
from mappings import MAPPING_FILE, mapping_in_use


def find_problems(
    settings: Settings, connectors: Mapping[str, Connector]
) -> dict[str, list[CheckProblem]]:
    """Every problem, by connector name (an empty list for a connector that fits)."""
    problems = {name: list(c.check()) for name, c in connectors.items()}
    # Owners and statuses matter where hand-offs happen: the sales CRM.
    sales: str | None = settings.identity.sales_crm
    if sales is None and len(connectors) == 1:
        sales = next(iter(connectors))
    if sales is not None and sales in connectors:
        owners = check_owners(settings.handoff, settings.recycle, connectors[sales].users())
        problems[sales].extend(
            CheckProblem(settings.source, p.field, p.problem, p.fix) for p in owners
        )
        problems[sales].extend(connectors[sales].check_targets(set_statuses(settings), [], []))
    # Nurture programmes live in each CRM: campaigns in Salesforce, lists in HubSpot.
    campaigns = [settings.recycle.nurture_campaign, *(e.campaign for e in settings.nurture.enrol)]
    lists = [settings.recycle.nurture_list, *(e.list for e in settings.nurture.enrol)]
    for name, c in connectors.items():
        problems[name].extend(
            c.check_targets([], [x for x in campaigns if x], [x for x in lists if x])
        )
    for name, found in problems.items():
        path = mapping_file(settings, name)
        if path is not None:
            problems[name] = [
                p if p.object_type == settings.source else naming_mapping(p, path) for p in found
            ]
    return problems


def mapping_file(settings: Settings, name: str) -> Path | None:
    """The absolute path of the mapping file connector ``name`` read."""
    configured = getattr(settings.connectors.section(name), "mapping", None)
    return mapping_in_use(configured, connector_type(name).default_mapping)


def naming_mapping(problem: CheckProblem, path: Path) -> CheckProblem:
    """``problem`` with the mapping file it refers to named by ``path``; one that does not
    refer to it gets the path after its fix, so every line says which map was checked."""
    if MAPPING_FILE in problem.problem or MAPPING_FILE in problem.fix:
        return replace(
            problem,
            problem=problem.problem.replace(MAPPING_FILE, str(path)),
            fix=problem.fix.replace(MAPPING_FILE, str(path)),
        )
    return replace(problem, fix=f"{problem.fix} (mapping read: {path})")


def set_statuses(settings: Settings) -> list[str]:
    """The statuses LeadSync writes: at hand-off (``owner_status``) and recycle
    (``nurture_status``), each while its feature is on."""
    return [
        status
        for status, on in (
            (settings.handoff.owner_status, settings.handoff.enabled),
            (settings.recycle.nurture_status, settings.recycle.enabled),
        )
        if on and status
    ]
