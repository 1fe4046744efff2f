"""The soak's checker over the sandboxes' state after convergence (see ``bench/soak.py``).

``check``: agreement of the LeadSync fields across a person's records and with the matrix,
hand-off tasks and owners, recycles exactly once, fields present. ``recompute_check``: the
model recomputed from the full activity history (``bench/soak_model.py``) and the CRMs'
activities against the store's rows (``bench/soak_store.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.soak_model import join, recompute
from bench.soak_state import read_state
from bench.soak_store import compare_with_store
from leadsync.config import settings_from_dict
from leadsync.config.loading import read_toml
from leadsync.sandboxes import Sandboxes

_ROOT = Path(__file__).resolve().parent.parent
RECYCLE_STATUSES = ("Recycled", "Unqualified")
FIELDS_SF = {
    "fit": "LeadSync_Fit__c",
    "score": "LeadSync_Score__c",
    "readiness": "LeadSync_Readiness__c",
    "team": "LeadSync_Team__c",
    "scored_at": "LeadSync_Scored_At__c",
}
FIELDS_HS = {
    "fit": "leadsync_fit",
    "score": "leadsync_score",
    "readiness": "leadsync_readiness",
    "team": "leadsync_team",
    "scored_at": "leadsync_scored_at",
}
HANDOFF_KEY = re.compile(r"^ls-(\d+)-(\d+)$")


def _norm(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.lower()
    return str(int(number)) if number.is_integer() else text


def _written(
    record: dict[str, Any], names: dict[str, str], labels: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The written LeadSync values as canonical strings (picklist labels mapped back)."""
    out = {}
    for key, name in names.items():
        value = _norm(record.get(name))
        out[key] = labels.get(key, {}).get(value, value)
    return out


def check(
    world: Sandboxes,
    recycled: Mapping[str, str],
    initial_teams: dict[str, str],
    initial_statuses: dict[str, Any],
    teams: dict[tuple[str, str], str],
) -> dict[str, list[str]]:
    """Every discrepancy found in the sandboxes' state, by check."""
    org, portal = world.salesforce.org, world.hubspot.portal
    sf_labels = salesforce_values()
    problems: dict[str, list[str]] = {"model": [], "handoffs": [], "recycles": [], "writes": []}
    leads = [r for r in org.records("Lead") if not r.get("IsConverted")]
    contacts = org.records("Contact")
    people: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for sobject, rows in (("Lead", leads), ("Contact", contacts)):
        for row in rows:
            if row.get("Legal_Hold__c"):
                continue  # the org's validation rule refuses every edit of such a lead
            values = _written(row, FIELDS_SF, sf_labels)
            ref = f"salesforce {sobject} {row['Id']}"
            _writes_present(ref, values, problems["writes"])
            if row.get("Email"):
                people.setdefault(str(row["Email"]).lower(), []).append((ref, values))
    for contact in portal.live("contacts"):
        values = _written(contact.properties, FIELDS_HS, {})
        ref = f"hubspot contact {contact.id}"
        _writes_present(ref, values, problems["writes"])
        email = contact.properties.get("email")
        if email:
            people.setdefault(str(email).lower(), []).append((ref, values))

    # 1. model: one person, one result in every record; Team is the matrix's for Fit/Readiness.
    for email, records in people.items():
        seen = {tuple(v[k] for k in ("fit", "score", "readiness", "team")) for _, v in records}
        if len(seen) > 1:
            problems["model"].append(
                f"{email}: records disagree: "
                + "; ".join(
                    f"{ref} {v['fit']}/{v['score']}/{v['readiness']}/{v['team']}"
                    for ref, v in records
                )
            )
        for ref, values in records:
            if not values["fit"] or not values["readiness"]:
                continue
            expected = teams.get((values["fit"], values["readiness"]))
            if expected is not None and values["team"] != expected:
                problems["model"].append(
                    f"{ref}: team {values['team']!r} but the matrix puts "
                    f"{values['fit']}/{values['readiness']} in {expected!r}"
                )

    # 2. hand-offs: unique task keys; every lead that moved into sales has a task and its owner.
    tasks = [t for t in org.records("Task") if t.get("LeadSync_Key__c")]
    keys = Counter(str(t["LeadSync_Key__c"]) for t in tasks)
    problems["handoffs"] += [f"task key {k} used by {n} tasks" for k, n in keys.items() if n > 1]
    by_who: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        if HANDOFF_KEY.match(str(task["LeadSync_Key__c"])):
            by_who.setdefault(str(task.get("WhoId")), []).append(task)
    ids_by_email: dict[str, set[str]] = {}
    for row in [*org.records("Lead"), *contacts]:
        if row.get("Email"):
            ids_by_email.setdefault(str(row["Email"]).lower(), set()).add(row["Id"])
    for lead in leads:
        lead_id = lead["Id"]
        if lead_id in recycled or lead.get("Legal_Hold__c"):
            continue
        if initial_statuses.get(lead_id) in RECYCLE_STATUSES:
            continue  # a recycle status already set: handed off, then straight back to nurture
        if _norm(lead.get("LeadSync_Team__c")) != "sales":
            continue
        if initial_teams.get(lead_id) == "sales":
            continue  # in sales before the soak: the backfill (--no-actions) kept its owner
        whos = ids_by_email.get(str(lead.get("Email") or "").lower(), set()) | {lead_id}
        own = sorted(by_who.get(lead_id, []), key=lambda t: str(t.get("CreatedDate")))
        if not any(by_who.get(w) for w in whos):
            problems["handoffs"].append(f"lead {lead_id} moved into sales but has no hand-off task")
        elif own and lead.get("OwnerId") != own[-1].get("OwnerId"):
            problems["handoffs"].append(
                f"lead {lead_id} owner {lead.get('OwnerId')} is not its hand-off task's owner "
                f"{own[-1].get('OwnerId')}"
            )

    # 2b. recycles: each lead sales recycled went back to nurture exactly once (one recycle
    # recorded) and is still in nurture, or was handed off again later (a newer hand-off task,
    # whose owner it has); nothing sales did not recycle was recycled.
    nurture_owner = org.nurture_queue_id
    for lead in leads:
        lead_id = lead["Id"]
        count = _norm(lead.get("LeadSync_Recycle_Count__c"))
        if lead_id not in recycled:
            if count in ("", "0"):
                continue
            if initial_statuses.get(lead_id) not in RECYCLE_STATUSES:
                problems["recycles"].append(
                    f"lead {lead_id} recycled ({count}) but sales never set a recycle status"
                )
                continue
            # Sales had set a recycle status before the soak; LeadSync recycled it once the
            # lead was re-scored: the same exactly-once rules apply.
        own = sorted(by_who.get(lead_id, []), key=lambda t: str(t.get("CreatedDate")))
        in_nurture = (lead.get("Status"), lead.get("OwnerId")) == ("Nurture", nurture_owner)
        # Sales recycles only leads LeadSync handed off, so a later hand-off is a second task;
        # a lead already in a recycle status before the soak had no hand-off before its
        # recycle (a hand-off would have replaced that status), so its first task is later.
        before = 1 if lead_id in recycled else 0
        handed_again = len(own) > before and lead.get("OwnerId") == own[-1].get("OwnerId")
        if count != "1" or not (in_nurture or handed_again):
            set_to = recycled.get(lead_id) or initial_statuses.get(lead_id)
            problems["recycles"].append(
                f"lead {lead_id} set to {set_to!r} by sales: status {lead.get('Status')!r}, "
                f"owner {lead.get('OwnerId')}, recycle count {count!r}, {len(own)} hand-off "
                f"tasks (want count 1 and Nurture/{nurture_owner}, or a later hand-off's owner)"
            )
    return problems


def recompute_check(
    world: Sandboxes, recycled_at: Mapping[str, datetime], floor: datetime, store_url: str
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The model recomputed from the sandboxes' full activity history (``bench/soak_model``),
    and the CRMs' activities against the store's rows (``bench/soak_store``)."""
    people = join(read_state(world))
    settings = settings_from_dict(world.config_data("sqlite:///unused.db"), "soak")
    floors = {
        people.key_of_record.get(f"salesforce:Lead:{lead_id}", lead_id): at
        for lead_id, at in recycled_at.items()
    }
    labels = {"salesforce": salesforce_values()}
    done = recompute(
        people, settings.model_spec(), settings.identity.fit_source, labels, floors, floor
    )
    store = compare_with_store(people, store_url)
    linked = sum(len(v) for v in people.activities.values())
    summary = {
        "people": len(people.records),
        "people_checked": len(done.checked_people),
        "records_checked": done.checked_records,
        "people_bounded_by_recycle": len(done.recycle_bounded),
        "people_with_same_source_conflicts": len(done.same_source_ties),
        "exclusions": dict(done.exclusions),
        "excluded": done.excluded,
        "activities_in_crms": linked + len(people.unlinked),
        "activities_on_people": linked,
        "activities_on_no_person": len(people.unlinked),
        "activities_used": done.activities_used,
        "store": {
            "crm_activities": store.crm_activities,
            "store_rows": store.store_rows,
            "lost": len(store.lost),
            "doubled": len(store.doubled),
            "misattributed": len(store.misattributed),
            "extra": len(store.extra),
        },
    }
    problems = {"recompute": done.problems, "activities": done.activity_problems + store.problems()}
    return problems, summary


def _writes_present(ref: str, values: dict[str, str], out: list[str]) -> None:
    missing = [k for k, v in values.items() if not v]
    if missing:
        out.append(f"{ref}: no {', '.join(missing)}")


def salesforce_values() -> dict[str, dict[str, str]]:
    """Salesforce picklist label -> canonical value, per output (``mappings/salesforce.toml``)."""
    data = read_toml(_ROOT / "mappings" / "salesforce.toml")
    return {
        output: {_norm(label): _norm(canonical) for canonical, label in labels.items()}
        for output, labels in data.get("values", {}).items()
    }


def matrix_teams(world: Sandboxes) -> dict[tuple[str, str], str]:
    """(fit, readiness) -> team, from the spec of the very config the replicas run."""
    settings = settings_from_dict(world.config_data("sqlite:///unused.db"), "soak")
    spec = settings.model_spec()
    return {
        (fit, readiness): spec.team(fit, readiness)
        for fit in ("good", "poor")
        for readiness in ("hand_raiser", "sales_ready", "unready", "do_not_contact")
    }
