"""End to end: ``install``, ``uninstall`` and the scope check, through hubspot-api-client
against the HubSpot sandbox (issue 25).

Each check gets a small portal of its own: install and uninstall change it. What the portal
holds is read back through the API (lists, groups, properties), as an admin would see it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hubspot.crm.lists import ApiException as ListsApiException

import sandboxes.hubspot as sandbox_pkg
from connectors.base import InstallStep
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import ConfigError, FatalSyncError
from leadsync.records import RecordRef, RecordUpdate
from mappings import default_mapping_path
from sandboxes.hubspot.scopes import ALL_SCOPES

HAND_RAISERS = "LeadSync: hand-raisers"
RECYCLED = "LeadSync: recycled to nurture"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    portal = sandbox_pkg.generate_portal(contacts=30, seed=25)
    with sandbox_pkg.HubSpotSandbox(portal, port=0, rate_limit_per_10s=100_000) as sb:
        yield sb


Connect = Callable[..., HubSpotConnector]


@pytest.fixture
def connect(sandbox: Any) -> Iterator[Connect]:
    """A connector to the sandbox, with its full token or one granted only ``scopes``."""
    made: list[HubSpotConnector] = []

    def build(scopes: Sequence[str] | None = None) -> HubSpotConnector:
        token = sandbox.access_token if scopes is None else sandbox.issue_token(scopes)
        settings = HubSpotSettings(
            base_url=sandbox.url, access_token=token, api_reserve=0, max_retries=0
        )
        connector = HubSpotConnector(
            "hubspot",
            settings,
            load_mapping(default_mapping_path("hubspot")),
            sleep=lambda _s: None,
        )
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def run(steps: Sequence[InstallStep]) -> None:
    for step in steps:
        if step.run is not None:
            step.run()


def changes(steps: Sequence[InstallStep]) -> dict[str, str]:
    return {s.what: s.change for s in steps if s.change != "unchanged"}


def portal_view(connector: HubSpotConnector, *, fields: bool = True) -> dict[str, Any]:
    """Lists, property groups and custom properties (with their options unless ``fields`` is
    false), as the API shows them."""
    client = connector.client
    lists = client.call("lists.search", "crm.lists.lists_api", "do_search", {"query": ""})
    view: dict[str, Any] = {"lists": sorted(str(x["name"]) for x in lists["lists"])}
    for object_type in ("contacts", "tasks"):
        groups = client.call("g", "crm.properties.groups_api", "get_all", object_type)
        view[f"{object_type} groups"] = sorted(str(g["name"]) for g in groups["results"])
        props = client.call("p", "crm.properties.core_api", "get_all", object_type)
        view[f"{object_type} properties"] = sorted(
            (str(p["name"]), json.dumps(p.get("options") if fields else None, sort_keys=True))
            for p in props["results"]
            if not p.get("hubspotDefined")
        )
    return view


def read_list(connector: HubSpotConnector, name: str) -> dict[str, Any]:
    answer = connector.client.call(
        "lists.by_name", "crm.lists.lists_api", "get_by_name", name, "0-1", include_filters=True
    )
    found: dict[str, Any] = answer["list"]
    return found


def members(connector: HubSpotConnector, name: str) -> set[str]:
    list_id = read_list(connector, name)["listId"]
    page = connector.client.call(
        "lists.members", "crm.lists.memberships_api", "get_page", list_id, limit=250
    )
    return {str(row["recordId"]) for row in page["results"]}


def options(connector: HubSpotConnector, prop: str) -> dict[str, str]:
    found = connector.client.call("p", "crm.properties.core_api", "get_by_name", "contacts", prop)
    return {str(o["value"]): str(o["label"]) for o in found["options"]}


# -- install ------------------------------------------------------------------------------------


def test_install_adds_the_missing_options_relabels_and_makes_both_lists(
    sandbox: Any, connect: Connect
) -> None:
    # A portal whose team property lacks "marketing", and whose options read "Hand Raiser".
    team = sandbox.portal.properties["contacts"]["leadsync_team"]
    team["options"] = [o for o in team["options"] if o["value"] != "marketing"]
    connector = connect()

    plan = connector.plan_install([])
    assert changes(plan) == {
        "options of leadsync_readiness": "update",
        "options of leadsync_team": "update",
        f"list {HAND_RAISERS}": "create",
        f"list {RECYCLED}": "create",
    }
    details = {s.what: s.detail for s in plan}
    assert details["options of leadsync_team"] == "add Marketing"
    assert "hand_raiser as Hand-raiser" in details["options of leadsync_readiness"]
    assert "Hand-raiser" in details[f"list {HAND_RAISERS}"]
    run(plan)

    assert options(connector, "leadsync_team") == {"sales": "Sales", "marketing": "Marketing"}
    assert options(connector, "leadsync_readiness") == {
        "hand_raiser": "Hand-raiser",
        "sales_ready": "Sales-ready",
        "unready": "Unready",
        "do_not_contact": "Do not contact",
    }
    hand_raisers = read_list(connector, HAND_RAISERS)
    assert hand_raisers["processingType"] == "DYNAMIC"
    (branch,) = hand_raisers["filterBranch"]["filterBranches"]
    assert [(f["property"], f["operation"]["values"]) for f in branch["filters"]] == [
        ("leadsync_readiness", ["hand_raiser"])
    ]
    # Installing again finds everything in place; reps need no grant to read the outputs.
    assert changes(connector.plan_install([])) == {}
    again = connector.plan_install(["501", "502"])
    assert changes(again) == {}
    assert "every user" in again[-1].detail


def test_check_sends_a_missing_option_to_install_which_makes_it_writable(
    sandbox: Any, connect: Connect
) -> None:
    team = sandbox.portal.properties["contacts"]["leadsync_team"]
    team["options"] = [o for o in team["options"] if o["value"] != "marketing"]
    connector = connect()
    ref = RecordRef("hubspot", "contact", str(sandbox.portal.live("contacts")[0].id))
    (refused,) = connector.write([RecordUpdate(ref, {"team": "marketing"})])
    assert not refused.ok
    (problem,) = [p for p in connector.check() if p.field == "leadsync_team"]
    assert "run `leadsync install`" in problem.fix
    run(connector.plan_install([]))
    assert [p for p in connector.check() if p.field == "leadsync_team"] == []
    (written,) = connector.write([RecordUpdate(ref, {"team": "marketing"})])
    assert written.ok, written.error


def test_dynamic_lists_hold_the_contacts_leadsync_writes_into_them(
    sandbox: Any, connect: Connect
) -> None:
    connector = connect()
    run(connector.plan_install([]))
    ids = [str(c.id) for c in sandbox.portal.live("contacts")[:4]]
    refs = [RecordRef("hubspot", "contact", i) for i in ids]
    outcomes = connector.write(
        [
            RecordUpdate(refs[0], {"readiness": "hand_raiser", "team": "sales"}),
            RecordUpdate(refs[1], {"readiness": "hand_raiser", "team": "sales"}),
            RecordUpdate(refs[2], {"readiness": "unready", "team": "marketing"}),
            RecordUpdate(refs[3], {"readiness": "unready", "team": "marketing"}),
        ]
    )
    assert all(o.ok for o in outcomes), outcomes
    assert members(connector, HAND_RAISERS) == {ids[0], ids[1]}
    # Recycled: sales sent it back (LeadSync writes the recycle count) and it is marketing's.
    (recycled,) = connector.write([RecordUpdate(refs[2], {"recycle_count": 1})])
    assert recycled.ok
    assert members(connector, RECYCLED) == {ids[2]}

    # A hand-raiser gone cold leaves the list; one re-engaged leaves nurture.
    connector.write(
        [
            RecordUpdate(refs[1], {"readiness": "unready"}),
            RecordUpdate(refs[2], {"readiness": "hand_raiser", "team": "sales"}),
        ]
    )
    assert members(connector, HAND_RAISERS) == {ids[0], ids[2]}
    assert members(connector, RECYCLED) == set()


def test_install_resets_a_list_whose_filters_were_edited(connect: Connect) -> None:
    connector = connect()
    run(connector.plan_install([]))
    list_id = read_list(connector, HAND_RAISERS)["listId"]
    edited = {
        "filterBranchType": "OR",
        "filterBranches": [
            {
                "filterBranchType": "AND",
                "filters": [
                    {
                        "filterType": "PROPERTY",
                        "property": "leadsync_readiness",
                        "operation": {
                            "operationType": "ENUMERATION",
                            "operator": "IS_ANY_OF",
                            "values": ["sales_ready"],
                        },
                    }
                ],
            }
        ],
    }
    connector.client.call(
        "l", "crm.lists.lists_api", "update_list_filters", list_id, {"filterBranch": edited}
    )
    plan = connector.plan_install([])
    assert changes(plan) == {f"list {HAND_RAISERS}": "update"}
    run(plan)
    assert read_list(connector, HAND_RAISERS)["listId"] == list_id
    assert changes(connector.plan_install([])) == {}


def test_install_asks_for_fields_create_when_outputs_have_no_property(
    sandbox: Any, connect: Connect
) -> None:
    del sandbox.portal.properties["contacts"]["leadsync_team"]
    with pytest.raises(ConfigError, match="leadsync fields create"):
        connect().plan_install([])


def test_a_dry_run_changes_nothing(connect: Connect) -> None:
    connector = connect()
    before = portal_view(connector)
    plan = connector.plan_install([])
    assert changes(plan)
    assert portal_view(connector) == before
    run(plan)
    installed = portal_view(connector)
    assert changes(connector.plan_uninstall(True))
    assert portal_view(connector) == installed


# -- uninstall ----------------------------------------------------------------------------------


def test_uninstall_leaves_lists_and_groups_as_they_were_before_install(
    connect: Connect,
) -> None:
    connector = connect()
    # Install relabels options; fields (options included) stay until the admin asks.
    before = portal_view(connector, fields=False)
    run(connector.plan_install([]))
    removal = connector.plan_uninstall(False)
    assert changes(removal) == {f"list {HAND_RAISERS}": "remove", f"list {RECYCLED}": "remove"}
    run(removal)
    # The lists are gone; the portal's own lists, groups and properties are as they were.
    assert portal_view(connector, fields=False) == before
    assert changes(connector.plan_uninstall(False)) == {}


def test_uninstall_with_fields_removes_what_fields_create_and_install_made(
    sandbox: Any, connect: Connect
) -> None:
    fresh = sandbox_pkg.generate_portal(contacts=10, seed=3, with_output_properties=False)
    with sandbox_pkg.HubSpotSandbox(fresh, port=0, rate_limit_per_10s=100_000) as other:
        settings = HubSpotSettings(base_url=other.url, access_token=other.access_token)
        connector = HubSpotConnector(
            "hubspot", settings, load_mapping(default_mapping_path("hubspot"))
        )
        try:
            before = portal_view(connector)
            connector.create_fields()
            run(connector.plan_install([]))
            assert portal_view(connector) != before
            plan = connector.plan_uninstall(True)
            assert changes(plan)["property contacts.leadsync_fit"] == "remove"
            assert changes(plan)["property group leadsync on contacts"] == "remove"
            run(plan)
            assert portal_view(connector) == before
            assert changes(connector.plan_uninstall(True)) == {}
        finally:
            connector.close()


def test_uninstall_keeps_a_group_that_holds_the_admins_own_properties(
    sandbox: Any, connect: Connect
) -> None:
    connector = connect()
    connector.client.call(
        "p",
        "crm.properties.core_api",
        "create",
        "contacts",
        {
            "name": "partner_tier",
            "label": "Partner tier",
            "type": "string",
            "fieldType": "text",
            "groupName": "leadsync",
        },
    )
    plan = connector.plan_uninstall(True)
    kept = next(s for s in plan if s.what == "property group leadsync on contacts")
    assert kept.change == "unchanged" and "partner_tier" in kept.detail
    run(plan)
    assert sandbox.portal.property("contacts", "partner_tier") is not None


# -- access ---------------------------------------------------------------------------------------


def test_check_names_each_missing_scope_and_where_to_grant_it(connect: Connect) -> None:
    assert [p for p in connect().check() if p.object_type == "private app"] == []
    lacking = connect(sorted(ALL_SCOPES - {"crm.lists.write", "crm.objects.contacts.write"}))
    problems = {p.field: p for p in lacking.check() if p.object_type == "private app"}
    assert set(problems) == {"crm.lists.write", "crm.objects.contacts.write"}
    assert "Private Apps" in problems["crm.lists.write"].fix
    assert "nurture lists" in problems["crm.lists.write"].problem


def test_check_asks_for_the_deals_scope_only_when_won_deals_count(connect: Connect) -> None:
    """With ``[conversion] won_deal_stages`` the pull reads deals; a token without the deals
    scope failed only then, with HubSpot's MISSING_SCOPES. ``check`` now names it first."""
    without = sorted(ALL_SCOPES - {"crm.objects.deals.read"})
    plain = connect(without)
    assert [p for p in plain.check() if p.object_type == "private app"] == []
    counting = connect(without)
    counting.mapping = counting.mapping.model_copy(
        update={"conversion": counting.mapping.conversion.model_copy(
            update={"won_deal_stages": ["closedwon"]})}
    )  # fmt: skip
    problems = [p for p in counting.check() if p.object_type == "private app"]
    assert [p.field for p in problems] == ["crm.objects.deals.read"]
    assert "won_deal_stages" in problems[0].problem and "Private Apps" in problems[0].fix


def test_check_still_answers_when_the_app_cannot_read_properties(connect: Connect) -> None:
    lacking = connect(sorted(ALL_SCOPES - {"crm.schemas.contacts.read"}))
    problems = lacking.check()
    assert [p.field for p in problems if p.object_type == "private app"] == [
        "crm.schemas.contacts.read"
    ]


def test_an_install_step_refused_for_a_scope_names_it(connect: Connect) -> None:
    lacking = connect(sorted(ALL_SCOPES - {"crm.lists.write"}))
    plan = lacking.plan_install([])  # reading lists needs only crm.lists.read
    step = next(s for s in plan if s.what == f"list {HAND_RAISERS}")
    assert step.run is not None
    with pytest.raises(FatalSyncError, match=r"crm\.lists\.write.*Private Apps") as refused:
        step.run()
    assert refused.value.status == 403


# -- the sandbox's list endpoints, as HubSpot answers them ------------------------------------


def _refusal(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ListsApiException) as caught:
        call()
    return int(caught.value.status), json.loads(caught.value.body)


def _dynamic(name: str, prop: str = "leadsync_readiness") -> dict[str, Any]:
    return {
        "name": name,
        "objectTypeId": "0-1",
        "processingType": "DYNAMIC",
        "filterBranch": {
            "filterBranchType": "OR",
            "filterBranches": [
                {
                    "filterBranchType": "AND",
                    "filters": [
                        {
                            "filterType": "PROPERTY",
                            "property": prop,
                            "operation": {
                                "operationType": "ENUMERATION",
                                "operator": "IS_ANY_OF",
                                "values": ["hand_raiser"],
                            },
                        }
                    ],
                }
            ],
        },
    }


def test_list_endpoints_refuse_as_hubspot_does(sandbox: Any, connect: Connect) -> None:
    lists = connect().client.api("crm.lists.lists_api")
    memberships = connect().client.api("crm.lists.memberships_api")
    created = lists.create(_dynamic("Warm"))
    list_id = created.list.list_id

    status, body = _refusal(lambda: lists.create(_dynamic("warm")))
    assert (status, body["category"], body["subCategory"]) == (
        400,
        "VALIDATION_ERROR",
        "ILS.DUPLICATE_LIST_NAMES",
    )
    status, body = _refusal(lambda: lists.get_by_id("987654"))
    assert (status, body["category"]) == (404, "OBJECT_NOT_FOUND")
    status, body = _refusal(lambda: lists.remove("987654"))
    assert status == 404
    status, body = _refusal(lambda: memberships.add(list_id, ["1001"]))
    assert (status, body["category"]) == (400, "VALIDATION_ERROR")
    assert "DYNAMIC" in body["message"]
    status, body = _refusal(lambda: lists.create(_dynamic("Odd", prop="no_such_property")))
    assert status == 400 and "no_such_property" in body["message"]

    narrow = connect(sorted(ALL_SCOPES - {"crm.lists.write"})).client.api("crm.lists.lists_api")
    status, body = _refusal(lambda: narrow.remove(list_id))
    assert (status, body["category"]) == (403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.lists.write"]
    assert narrow.get_by_id(list_id).list.name == "Warm"  # reading needs crm.lists.read only


def test_a_list_of_another_kind_with_install_s_name_is_neither_replaced_nor_removed(
    connect: Connect,
) -> None:
    connector = connect()
    body = {"name": HAND_RAISERS, "objectTypeId": "0-1", "processingType": "MANUAL"}
    made = connector.client.call("l", "crm.lists.lists_api", "create", body)
    with pytest.raises(ConfigError, match="MANUAL list named"):
        connector.plan_install([])
    kept = next(s for s in connector.plan_uninstall(False) if s.what == f"list {HAND_RAISERS}")
    assert kept.change == "unchanged" and "did not make" in kept.detail
    assert read_list(connector, HAND_RAISERS)["listId"] == made["list"]["listId"]


def test_install_restores_the_group_label_and_makes_a_missing_group(
    sandbox: Any, connect: Connect
) -> None:
    connector = connect()
    sandbox.portal.groups["contacts"]["leadsync"]["label"] = "Scoring (old)"
    plan = connector.plan_install([])
    assert changes(plan)["property group leadsync on contacts"] == "update"
    run(plan)
    assert sandbox.portal.groups["contacts"]["leadsync"]["label"] == "LeadSync"
    # The admin moved LeadSync's properties out and deleted the group: install makes it again.
    for prop in sandbox.portal.properties["contacts"].values():
        if prop["groupName"] == "leadsync":
            prop["groupName"] = "contactinformation"
    del sandbox.portal.groups["contacts"]["leadsync"]
    plan = connector.plan_install([])
    assert changes(plan) == {"property group leadsync on contacts": "create"}
    run(plan)
    assert changes(connector.plan_install([])) == {}
