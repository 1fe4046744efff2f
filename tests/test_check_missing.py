"""Issue 24 #3: ``check`` tells a missing standard field or property from a missing custom one.

A standard one is in every org and portal: missing from the describe, it is hidden from
LeadSync (scopes, field-level security, edition), so the fix is access and the name stays. A
custom one may be absent: create it, or map another in the mapping file. Generated cases: a
random set of the shipped maps' standard reads hidden, random custom names mapped and absent.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.hubspot.mapping import load_mapping as load_hubspot
from connectors.hubspot.properties import check_against
from connectors.salesforce import fields as sf_fields
from connectors.salesforce.mapping import load_mapping as load_salesforce
from mappings import MAPPING_FILE, default_mapping_path
from sandboxes.salesforce.objects import build_schema

HUBSPOT = load_hubspot(default_mapping_path("hubspot"))
SALESFORCE = load_salesforce()
HUBSPOT_READS = sorted({*HUBSPOT.contact.model_dump().values(), *HUBSPOT.attributes.values()})
#: Standard Lead fields the shipped map reads (custom ones end in __c).
LEAD_STANDARD_READS = sorted(
    path
    for path in [*SALESFORCE.objects["Lead"].attributes.values(), "Email", "Status", "OwnerId"]
    if not path.endswith("__c")
)
#: Names no CRM ships: an admin's own field or property.
custom_names = st.lists(st.from_regex(r"acme_[a-z]{3,12}", fullmatch=True), unique=True, max_size=3)


def assert_standard_advice(problem: Any, name: str) -> None:
    assert "standard" in problem.problem, problem
    assert "keep it" in problem.fix and MAPPING_FILE in problem.fix, problem
    # Never "rename it": the name is the CRM's own.
    assert "another" not in problem.fix and "correct" not in problem.fix, problem


def assert_custom_advice(problem: Any, name: str) -> None:
    assert "custom" in problem.problem, problem
    assert f"create {name}" in problem.fix, problem
    assert f"to another property in {MAPPING_FILE}" in problem.fix or (
        f"to another field in {MAPPING_FILE}" in problem.fix
    ), problem


@settings(max_examples=40, deadline=None)
@given(hidden=st.sets(st.sampled_from(HUBSPOT_READS), min_size=1), custom=custom_names)
def test_hubspot_a_hidden_standard_property_is_about_scopes_a_custom_one_about_creating(
    hidden: set[str], custom: list[str]
) -> None:
    mapping = HUBSPOT.model_copy(
        update={"attributes": {**HUBSPOT.attributes, **{f"x{i}": n for i, n in enumerate(custom)}}}
    )
    contacts = {n: {"name": n, "type": "string"} for n in HUBSPOT_READS if n not in hidden}
    tasks = {"leadsync_key": {"name": "leadsync_key", "hasUniqueValue": True}}
    problems = {p.field: p for p in check_against(mapping, contacts, tasks)}
    for name in hidden:
        assert_standard_advice(problems[name], name)
        assert "private app" in problems[name].fix and "scopes" in problems[name].fix
    for name in custom:
        assert_custom_advice(problems[name], name)


@settings(max_examples=40, deadline=None)
@given(hidden=st.sets(st.sampled_from(LEAD_STANDARD_READS), min_size=1), custom=custom_names)
def test_salesforce_a_hidden_standard_field_is_about_access_a_custom_one_about_creating(
    hidden: set[str], custom: list[str]
) -> None:
    schema = build_schema(True)
    custom_fields = [f"{name.title()}__c" for name in custom]
    lead = SALESFORCE.objects["Lead"]
    attributes = {**lead.attributes, **{f"x{i}": f for i, f in enumerate(custom_fields)}}
    objects = {**SALESFORCE.objects, "Lead": lead.model_copy(update={"attributes": attributes})}
    mapping = SALESFORCE.model_copy(update={"objects": objects})

    def describe(sobject: str) -> dict[str, Any]:
        definition = schema.get(sobject)
        if definition is None:
            return {}
        answer = definition.describe("62.0")
        if sobject == "Lead":
            answer["fields"] = [f for f in answer["fields"] if f["name"] not in hidden]
        return answer

    problems = {(p.object_type, p.field): p for p in sf_fields.check(mapping, describe)}
    for name in hidden:
        problem = problems["Lead", name]
        assert_standard_advice(problem, name)
        assert "field-level security" in problem.fix
    for i, name in enumerate(custom_fields):
        assert_custom_advice(problems["Lead", name], name)
        # The key as the mapping file spells it: attributes live in their own table.
        assert f"objects.Lead.attributes.x{i} " in problems["Lead", name].problem
