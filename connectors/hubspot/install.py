"""``leadsync install`` and ``uninstall`` for a HubSpot portal: plans of ``InstallStep``.

Install makes, in this order:

* the ``leadsync`` property group on contacts, labelled as the mapping says;
* every value LeadSync writes to an enumeration output as an option of its property, with
  the mapping's label (``[values.*]``): options the portal has besides are kept, since
  contacts may hold them (HubSpot's ``PATCH`` replaces the whole option list, so the plan
  sends it whole);
* the active (DYNAMIC) contact lists marketing works from, filtered on LeadSync's own
  properties (``MARKETING_LISTS``), which HubSpot keeps up to date as LeadSync writes.

It creates no property: ``leadsync fields create`` does, and install asks for it first.
HubSpot has no per-property read grants to give through the API (every user sees every
property), and the integration user's access is the private app's scopes, which only an
admin can tick: ``check`` names a missing one (``connectors.hubspot.access``).

Uninstall deletes the lists install made, found by name; with ``remove_fields``, also the
properties LeadSync created (in its group, not HubSpot's own) and then its groups, when
nothing else is left in them. Options install added stay until their property goes, since
contacts hold them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import InstallStep
from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import CANONICAL_VALUES, HubSpotMapping
from connectors.hubspot.properties import CONTACTS, TASKS, read_properties
from leadsync.errors import ConfigError

#: HubSpot's object type id of contacts, which the Lists API names lists' records by.
CONTACT_TYPE_ID = "0-1"
_LISTS = "crm.lists.lists_api"
_GROUPS = "crm.properties.groups_api"
_PROPERTIES = "crm.properties.core_api"


@dataclass(frozen=True, slots=True)
class MarketingList:
    """An active list install makes: contacts passing every filter are members."""

    name: str
    #: What the list holds, in a marketer's words (the plan's detail).
    detail: str
    filters: tuple[dict[str, Any], ...]

    def filter_branch(self) -> dict[str, Any]:
        """HubSpot's required shape: an OR root holding one AND branch of our filters."""
        return {
            "filterBranchType": "OR",
            "filterBranches": [
                {"filterBranchType": "AND", "filterBranches": [], "filters": list(self.filters)}
            ],
            "filters": [],
        }


def _is_any_of(prop: str, *values: str) -> dict[str, Any]:
    return {
        "filterType": "PROPERTY",
        "property": prop,
        "operation": {
            "operationType": "ENUMERATION",
            "operator": "IS_ANY_OF",
            "values": list(values),
        },
    }


def _at_least(prop: str, value: int) -> dict[str, Any]:
    return {
        "filterType": "PROPERTY",
        "property": prop,
        "operation": {
            "operationType": "NUMBER",
            "operator": "IS_GREATER_THAN_OR_EQUAL_TO",
            "value": value,
        },
    }


def marketing_lists(mapping: HubSpotMapping) -> list[MarketingList]:
    """The lists marketing opens, on the outputs as this mapping names them."""
    out = mapping.outputs

    def label(name: str, canonical: str) -> str:
        option = mapping.option_table(name).get(canonical)
        return option.label if option and option.label else canonical

    lists = []
    if "readiness" in out:
        hand_raiser = str(mapping.crm_value("readiness", "hand_raiser"))
        lists.append(
            MarketingList(
                "LeadSync: hand-raisers",
                f"contacts whose {out['readiness'].label} is "
                f"{label('readiness', 'hand_raiser')}: they asked for sales; HubSpot keeps it "
                "current as LeadSync scores",
                (_is_any_of(out["readiness"].property, hand_raiser),),
            )
        )
    if "team" in out and "recycle_count" in out:
        marketing = str(mapping.crm_value("team", "marketing"))
        lists.append(
            MarketingList(
                "LeadSync: recycled to nurture",
                "contacts sales sent back that are marketing's again: "
                f"{out['recycle_count'].label} is 1 or more and {out['team'].label} is "
                f"{label('team', 'marketing')}",
                (
                    _at_least(out["recycle_count"].property, 1),
                    _is_any_of(out["team"].property, marketing),
                ),
            )
        )
    return lists


# -- install ---------------------------------------------------------------------------------------


def plan_install(
    client: HubSpotClient, mapping: HubSpotMapping, sales_users: Sequence[str] = ()
) -> list[InstallStep]:
    """The group, the options and the lists, each as it is or as it will be; for
    ``sales_users``, a step in place, saying why they need no grant."""
    contacts = {str(p["name"]): p for p in read_properties(client, CONTACTS)}
    missing = [o.property for o in mapping.outputs.values() if o.property not in contacts]
    if missing:
        raise ConfigError(
            f"HubSpot has no contact propert{'y' if len(missing) == 1 else 'ies'} "
            f"{', '.join(missing)} for LeadSync's outputs; run `leadsync fields create`, then "
            "`leadsync install` again"
        )
    steps = [_group_step(client, mapping)]
    for name, out in mapping.outputs.items():
        # A property of another type has no options to add (check reports the mismatch).
        if out.type == "enumeration" and contacts[out.property].get("type") == "enumeration":
            steps.append(_options_step(client, mapping, name, contacts[out.property]))
    steps += [_list_step(client, spec) for spec in marketing_lists(mapping)]
    if sales_users:
        steps.append(
            InstallStep(
                f"read on LeadSync's properties for {len(sales_users)} sales users",
                "unchanged",
                "HubSpot shows every contact property to every user",
            )
        )
    return steps


def _groups(client: HubSpotClient, object_type: str) -> dict[str, dict[str, Any]]:
    answer = client.call(f"property_groups.{object_type}", _GROUPS, "get_all", object_type)
    return {str(g["name"]): g for g in answer.get("results") or []}


def _group_step(client: HubSpotClient, mapping: HubSpotMapping) -> InstallStep:
    what = f"property group {mapping.group} on {CONTACTS}"
    have = _groups(client, CONTACTS).get(mapping.group)
    detail = f"labelled {mapping.group_label!r}"
    if have is not None and have.get("label") == mapping.group_label:
        return InstallStep(what, "unchanged", detail)
    if have is None:
        body = {"name": mapping.group, "label": mapping.group_label, "displayOrder": -1}
        return InstallStep(
            what,
            "create",
            detail,
            _call(client, "property_groups.contacts.create", _GROUPS, "create", CONTACTS, body),
        )
    return InstallStep(
        what,
        "update",
        f"relabel {have.get('label')!r} as {mapping.group_label!r}",
        _call(
            client,
            "property_groups.contacts.update",
            _GROUPS,
            "update",
            CONTACTS,
            mapping.group,
            {"label": mapping.group_label},
        ),
    )


def _options_step(
    client: HubSpotClient, mapping: HubSpotMapping, name: str, live: dict[str, Any]
) -> InstallStep:
    """Every value LeadSync writes to output ``name`` an option, labelled as the mapping says."""
    prop = mapping.outputs[name].property
    table = mapping.option_table(name)
    wanted: dict[str, str] = {}
    for canonical in CANONICAL_VALUES.get(name) or tuple(table):
        option = table.get(canonical)
        plain = canonical.replace("_", " ").capitalize()
        wanted[str(mapping.crm_value(name, canonical))] = (option and option.label) or plain
    options = [dict(o) for o in live.get("options") or [] if isinstance(o, dict)]
    have = {str(o.get("value")): o for o in options}
    added = [v for v in wanted if v not in have]
    relabelled = [
        v
        for v in wanted
        if v in have and (have[v].get("label") != wanted[v] or have[v].get("hidden"))
    ]
    what = f"options of {prop}"
    if not added and not relabelled:
        return InstallStep(what, "unchanged", ", ".join(wanted.values()))
    for value in relabelled:
        have[value].update(label=wanted[value], hidden=False)
    for value in added:
        options.append(
            {"label": wanted[value], "value": value, "displayOrder": len(options), "hidden": False}
        )
    body = {
        "options": [
            {k: o[k] for k in ("label", "value", "displayOrder", "hidden", "description") if k in o}
            for o in options
        ]
    }
    detail = "; ".join(
        part
        for part in (
            f"add {', '.join(wanted[v] for v in added)}" if added else "",
            f"relabel {', '.join(f'{v} as {wanted[v]}' for v in relabelled)}" if relabelled else "",
        )
        if part
    )
    return InstallStep(
        what,
        "update",
        detail,
        _call(client, f"properties.{CONTACTS}.update", _PROPERTIES, "update", CONTACTS, prop, body),
    )


def find_list(client: HubSpotClient, name: str) -> dict[str, Any] | None:
    """The contact list named ``name``, its filters included, or None."""
    try:
        answer = client.call(
            "lists.by_name", _LISTS, "get_by_name", name, CONTACT_TYPE_ID, include_filters=True
        )
    except HubSpotRejected as exc:
        if exc.status == 404:
            return None
        raise
    found: dict[str, Any] = answer.get("list") or {}
    return found


def _list_step(client: HubSpotClient, spec: MarketingList) -> InstallStep:
    what = f"list {spec.name}"
    have = find_list(client, spec.name)
    if have is None:
        body = {
            "name": spec.name,
            "objectTypeId": CONTACT_TYPE_ID,
            "processingType": "DYNAMIC",
            "filterBranch": spec.filter_branch(),
        }
        return InstallStep(
            what, "create", spec.detail, _call(client, "lists.create", _LISTS, "create", body)
        )
    if have.get("processingType") != "DYNAMIC":
        raise ConfigError(
            f"HubSpot already has a {have.get('processingType')} list named {spec.name!r} "
            f"(list {have.get('listId')}), where LeadSync makes an active list; rename or delete "
            "it in HubSpot (Contacts > Lists), then run `leadsync install` again"
        )
    if filter_key(have.get("filterBranch")) == filter_key(spec.filter_branch()):
        return InstallStep(what, "unchanged", spec.detail)
    return InstallStep(
        what,
        "update",
        f"filters reset: {spec.detail}",
        _call(
            client,
            "lists.update_filters",
            _LISTS,
            "update_list_filters",
            str(have["listId"]),
            {"filterBranch": spec.filter_branch()},
        ),
    )


def filter_key(branch: Any) -> Any:
    """What a filter branch means, as comparable values: HubSpot echoes a branch with fields
    filled in (``filterBranchOperator``, ``includeObjectsWithNoValueSet``) and the client's
    models add defaults and turn numbers into text, so branches are compared by meaning."""
    if not isinstance(branch, dict):
        return None
    filters = []
    for f in branch.get("filters") or []:
        op = f.get("operation") or {}
        filters.append(
            (
                f.get("filterType"),
                f.get("property"),
                op.get("operationType"),
                op.get("operator"),
                tuple(sorted(str(v) for v in op.get("values") or [])),
                None if op.get("value") is None else _number_text(op["value"]),
                bool(op.get("includeObjectsWithNoValueSet")),
            )
        )
    children = sorted(repr(filter_key(b)) for b in branch.get("filterBranches") or [])
    return (branch.get("filterBranchType"), tuple(sorted(filters, key=repr)), tuple(children))


def _number_text(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


# -- uninstall -------------------------------------------------------------------------------------


def plan_uninstall(
    client: HubSpotClient, mapping: HubSpotMapping, remove_fields: bool
) -> list[InstallStep]:
    """The lists install made; with ``remove_fields``, LeadSync's properties and groups."""
    steps = []
    for spec in marketing_lists(mapping):
        what = f"list {spec.name}"
        have = find_list(client, spec.name)
        if have is None:
            steps.append(InstallStep(what, "unchanged", "not in the portal"))
        elif have.get("processingType") != "DYNAMIC":
            # Install makes only active lists: one of another kind by this name is someone's.
            kind = str(have.get("processingType"))
            steps.append(
                InstallStep(what, "unchanged", f"kept: a {kind} list LeadSync did not make")
            )
        else:
            list_id = str(have["listId"])
            steps.append(
                InstallStep(
                    what,
                    "remove",
                    f"list {list_id} of {have.get('size', 0)} contacts; the contacts stay",
                    _call(client, "lists.delete", _LISTS, "remove", list_id, expect_body=False),
                )
            )
    if remove_fields:
        steps += _field_removals(client, mapping)
    return steps


def _field_removals(client: HubSpotClient, mapping: HubSpotMapping) -> list[InstallStep]:
    """LeadSync's own properties (custom, in its group), then each of its groups that would
    then hold nothing else; a group holding someone else's properties stays."""
    mine = {
        CONTACTS: {o.property for o in mapping.outputs.values()},
        TASKS: {mapping.tasks.key_property},
    }
    steps: list[InstallStep] = []
    for object_type, names in mine.items():
        live = read_properties(client, object_type)
        in_group = [p for p in live if p.get("groupName") == mapping.group]
        ours = [p for p in in_group if p["name"] in names and not p.get("hubspotDefined")]
        for prop in ours:
            steps.append(
                InstallStep(
                    f"property {object_type}.{prop['name']}",
                    "remove",
                    f"{prop.get('label')!r} and every contact's value in it",
                    _call(
                        client,
                        f"properties.{object_type}.archive",
                        _PROPERTIES,
                        "archive",
                        object_type,
                        prop["name"],
                        expect_body=False,
                    ),
                )
            )
        if mapping.group not in _groups(client, object_type):
            continue
        what = f"property group {mapping.group} on {object_type}"
        others = sorted(str(p["name"]) for p in in_group if p not in ours)
        if others:
            steps.append(InstallStep(what, "unchanged", f"kept: it holds {', '.join(others)}"))
        else:
            steps.append(
                InstallStep(
                    what,
                    "remove",
                    "",
                    _call(
                        client,
                        f"property_groups.{object_type}.archive",
                        _GROUPS,
                        "archive",
                        object_type,
                        mapping.group,
                        expect_body=False,
                    ),
                )
            )
    return steps


def _call(
    client: HubSpotClient, endpoint: str, api: str, method: str, *args: Any, **kwargs: Any
) -> Callable[[], None]:
    """A step's run: one client call, its answer dropped (the next plan reads the result)."""

    def run() -> None:
        client.call(endpoint, api, method, *args, **kwargs)

    return run
