"""``leadsync install`` / ``uninstall`` / ``check`` against a fresh sandbox org, as strict as a
real one: fields made by ``fields create`` are granted by no profile, so LeadSync can neither
see nor write them until install's permission set grants them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest
from typer.testing import CliRunner

import leadsync.cli.install_cmds  # noqa: F401 - registers install and uninstall on the app
from connectors.salesforce.connector import SalesforceConnector
from leadsync.cli.app import app
from leadsync.errors import FatalSyncError
from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import connector_for, lead_ids, updates_for

SECURITY = ("PermissionSet", "FieldPermissions", "ObjectPermissions", "PermissionSetAssignment")


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=40, seed=25, with_output_fields=False)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def conn(sb: SalesforceSandbox) -> Iterator[SalesforceConnector]:
    connector = connector_for(sb)
    connector.create_fields()
    yield connector
    connector.close()


@pytest.fixture
def config(tmp_path: Path, sb: SalesforceSandbox) -> Path:
    path = tmp_path / "leadsync.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "state.db"}"

[connectors.salesforce]
instance_url = "{sb.url}"
login_url = "{sb.url}"
auth = "client_credentials"
client_id = "{sb.client_id}"
client_secret = "{sb.client_secret}"
ca_bundle = "{sb.ca_file}"
"""
    )
    path.chmod(0o600)
    return path


def cli(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--config", str(config), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def org_security(sb: SalesforceSandbox) -> dict[str, set[tuple[Any, ...]]]:
    """What install and uninstall touch, as rows an admin would compare."""
    state: dict[str, set[tuple[Any, ...]]] = {
        name: {tuple(sorted(r.items())) for r in sb.org.records(name)} for name in SECURITY
    }
    state["ListView"] = {(v.full_name, v.label) for v in sb.org.list_views.values()}
    return state


def sf_client(conn: SalesforceConnector) -> Salesforce:
    return conn.client.sf


def uninstall(conn: SalesforceConnector) -> None:
    for step in conn.plan_uninstall(False):
        if step.run is not None:
            step.run()


def test_writes_are_refused_before_install_and_succeed_after(
    sb: SalesforceSandbox, conn: SalesforceConnector, config: Path
) -> None:
    uninstall(conn)
    ids = lead_ids(sb)[:4]
    with pytest.raises(FatalSyncError, match="No such column 'LeadSync_Fit__c'"):
        conn.write(updates_for(ids))
    # A field FLS hides is missing from describe and from SOQL, as in a real org.
    assert "LeadSync_Fit__c" not in {f["name"] for f in sf_client(conn).Lead.describe()["fields"]}
    with pytest.raises(FatalSyncError, match="INVALID_FIELD"):
        list(conn.client.query_pages("SELECT LeadSync_Fit__c FROM Lead LIMIT 1"))

    report = cli(config, "install")
    assert report["ok"]
    done = {s["what"]: s["outcome"] for s in report["steps"]["salesforce"]}
    assert done["permission set LeadSync_Integration"] == "done"
    assert done["list view Lead.LeadSync_Hand_raisers"] == "done"

    outcomes = conn.write(updates_for(ids))
    assert all(o.ok for o in outcomes), outcomes
    assert {sb.org.get("Lead", i)["LeadSync_Fit__c"] for i in ids} <= {"Good", "Poor"}


def test_install_twice_changes_nothing_and_a_dry_run_changes_nothing(
    sb: SalesforceSandbox, conn: SalesforceConnector, config: Path
) -> None:
    cli(config, "install")
    before = org_security(sb)
    again = cli(config, "install")
    assert {s["change"] for s in again["steps"]["salesforce"]} == {"unchanged"}
    dry = cli(config, "uninstall", "--dry-run")
    assert {s["change"] for s in dry["steps"]["salesforce"]} == {"remove", "unassign"}
    assert org_security(sb) == before


def test_uninstall_leaves_the_org_as_it_was(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    uninstall(conn)
    bare = org_security(sb)
    assert {v[0] for v in bare["ListView"]} == {"Lead.AllOpenLeads", "Lead.MyUnreadLeads"}
    for step in conn.plan_install([]):
        if step.run is not None:
            step.run()
    assert org_security(sb) != bare
    uninstall(conn)
    after = org_security(sb)
    # Rows deleted through the API stay in the recycle bin: compare the live ones.
    live = {name: {r for r in rows if ("IsDeleted", False) in r} for name, rows in after.items()}
    assert live == {
        name: {r for r in rows if ("IsDeleted", False) in r} for name, rows in bare.items()
    }
    assert after["ListView"] == bare["ListView"]
    # The admin's own permission set is untouched; the fields stay (they hold data).
    assert "LeadSync_Fit__c" in sb.org.schema["Lead"].fields
    names = {r["Name"] for r in sb.org.records("PermissionSet")}
    assert "Sales_Console_User" in names and "LeadSync_Integration" not in names


def test_check_names_the_missing_grant(sb: SalesforceSandbox, conn: SalesforceConnector) -> None:
    uninstall(conn)
    problems = {(p.object_type, p.field): p for p in conn.check()}
    fit = problems["Lead", "LeadSync_Fit__c"]
    assert "cannot edit" in fit.problem
    assert "leadsync install" in fit.fix and "Lead.LeadSync_Fit__c" in fit.fix
    assert "fields create" not in fit.fix
    for step in conn.plan_install([]):
        if step.run is not None:
            step.run()
    assert [str(p) for p in conn.check()] == []
    # A grant taken back (read left, edit removed) is named again.
    sf = sf_client(conn)
    row = sf.query(
        "SELECT Id FROM FieldPermissions WHERE Field = 'Lead.LeadSync_Score__c' "
        "AND Parent.Name = 'LeadSync_Integration'"
    )["records"][0]
    sf.FieldPermissions.update(row["Id"], {"PermissionsEdit": False})
    problems = {(p.object_type, p.field): p for p in conn.check()}
    assert "cannot edit" in problems["Lead", "LeadSync_Score__c"].problem
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD_FOR_INSERT_UPDATE"):
        sf_client(conn).Lead.update(lead_ids(sb)[0], {"LeadSync_Score__c": 5})
    assert [s.change for s in conn.plan_install([])].count("update") == 1


def test_list_view_results_show_the_columns_and_rows_sales_sees(
    sb: SalesforceSandbox, conn: SalesforceConnector, config: Path
) -> None:
    cli(config, "install")
    conn.write(updates_for(lead_ids(sb)[:12]))
    sf = sf_client(conn)
    views = sf.restful("sobjects/Lead/listviews")["listviews"]
    ready = next(v for v in views if v["label"] == "LeadSync: sales-ready")
    result = sf.restful(f"sobjects/Lead/listviews/{ready['id']}/results", params={"limit": 5})
    labels = [c["label"] for c in result["columns"] if not c["hidden"]]
    assert labels[:2] == ["Full Name", "Company"]
    assert {"LeadSync Fit", "LeadSync Score", "LeadSync Readiness", "LeadSync Team"} <= set(labels)
    expected = [
        r
        for r in sb.org.records("Lead")
        if r["LeadSync_Readiness__c"] == "Sales-ready"
        and r["LeadSync_Team__c"] == "Sales"
        and not r["IsConverted"]
    ]
    assert result["size"] == len(expected) > 0
    cells = {c["fieldNameOrPath"]: c["value"] for c in result["records"][0]["columns"]}
    assert cells["LeadSync_Readiness__c"] == "Sales-ready"


def test_sales_access_assigns_the_sales_set_to_the_reps(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    reps = sorted(
        str(u["Id"])
        for u in sb.org.records("User")
        if u["IsActive"] and u["Id"] != sb.org.integration_user_id
    )[:2]
    plan = conn.plan_install(reps)
    wanted = {f"assignment of LeadSync_Sales to {rep}" for rep in reps}
    assert wanted <= {s.what for s in plan}
    for step in plan:
        if step.run is not None and step.what not in wanted:
            step.run()
    # Each rep's assignment is one insert: the set's id is known from the run, not queried
    # again per rep (4 queries each before).
    before = dict(conn.usage().calls_by_endpoint)
    for step in plan:
        if step.what in wanted:
            assert step.run is not None
            step.run()
    spent = {k: v - before.get(k, 0) for k, v in conn.usage().calls_by_endpoint.items()}
    assert {k: v for k, v in spent.items() if v} == {"POST sobjects/PermissionSetAssignment": 2}
    again = {s.what: s.change for s in conn.plan_install(reps)}
    assert {again[w] for w in wanted} == {"unchanged"}
    sales = sf_client(conn).query(
        "SELECT AssigneeId FROM PermissionSetAssignment WHERE PermissionSet.Name = 'LeadSync_Sales'"
    )["records"]
    assert sorted(r["AssigneeId"] for r in sales) == reps
    removal = {s.what: s.change for s in conn.plan_uninstall(False)}
    assert {removal[w] for w in wanted} == {"unassign"}


def test_install_with_a_given_access_token_asks_the_org_who_it_is(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    """A token given as ``access_token`` carries no identity URL: install stopped ("use an
    auth flow that does"). The org's UserInfo endpoint says who the token acts for."""
    conn.client.sf  # noqa: B018 - a token the sandbox issued, as an admin would paste one
    token = conn.client.sf.session_id
    pasted = connector_for(
        sb,
        auth="access_token",
        access_token=token,
        instance_url=sb.url,
        client_id=None,
        client_secret=None,
    )
    try:
        assert pasted.client.login_user_id() == sb.org.integration_user_id
        steps = pasted.plan_install([])
        assignment = next(s for s in steps if s.what.startswith("assignment of"))
        assert assignment.change in ("assign", "unchanged"), assignment
    finally:
        pasted.close()
