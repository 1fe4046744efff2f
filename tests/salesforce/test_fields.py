"""describe / check / create_fields against canned describe answers."""

from __future__ import annotations

import json
from typing import Any

import responses

from connectors.salesforce.connector import SalesforceConnector

from .conftest import API


def _field(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "label": name, "updateable": True, "custom": True, **extra}


def _picklist(name: str, *values: str) -> dict[str, Any]:
    return _field(name, "picklist", picklistValues=[{"value": v, "active": True} for v in values])


NAMES = [_field("FirstName", "string"), _field("LastName", "string")]
STATUSES = ("Open - Not Contacted", "Working - Contacted", "Nurture", "Recycled")

LEAD_STANDARD = (
    NAMES
    + [
        _field(n, "string")
        for n in ("Id", "Email", "Industry", "Country", "State", "City", "Title")
    ]
    + [
        _picklist("Status", *STATUSES),
        _field("Company", "string"),
        _field("Website", "url"),
        _field("LeadSource", "picklist"),
        _field("OwnerId", "reference"),
        _field("HasOptedOutOfEmail", "boolean"),
        _field("NumberOfEmployees", "int"),
        _field("AnnualRevenue", "currency"),
        _picklist("Ownership__c", "Public", "Private"),
    ]
)

ALL_OUTPUTS = [
    _picklist("LeadSync_Fit__c", "Good", "Poor"),
    _picklist("LeadSync_Readiness__c", "Hand-raiser", "Sales-ready", "Unready", "Do not contact"),
    _picklist("LeadSync_Team__c", "Sales", "Marketing"),
    _field("LeadSync_Score__c", "double"),
    _field("LeadSync_Reason__c", "string", length=255),
    _field("LeadSync_Scored_At__c", "datetime"),
    _field("LeadSync_Recycle_Count__c", "double"),
    _field("LeadSync_Recycle_Reason__c", "string", length=255),
    _field("LeadSync_Account_Score__c", "double"),
    _field("LeadSync_Engaged_People__c", "double"),
]

CONTACT = (
    NAMES
    + [
        _field(n, "string")
        for n in ("Id", "Email", "MailingCountry", "MailingState", "MailingCity", "Title")
    ]
    + [
        _picklist("Contact_Status__c", *STATUSES),
        _field("OwnerId", "reference"),
        _field("LeadSource", "picklist"),
        _field("HasOptedOutOfEmail", "boolean"),
        _field("AccountId", "reference", relationshipName="Account", referenceTo=["Account"]),
    ]
)

ACCOUNT = [
    _field("Industry", "picklist"),
    _field("NumberOfEmployees", "int"),
    _field("AnnualRevenue", "currency"),
    _field("Name", "string"),
    _field("Website", "url"),
    _field("Ownership", "picklist"),
]

FORM = [
    _field(n, "string")
    for n in ("Email__c", "Form_Name__c", "Page_URL__c", "Lead__c", "Contact__c")
] + [_field("Submitted_At__c", "datetime")]


def _no_such_fields(rsps: responses.RequestsMock) -> None:
    """The Metadata API's readMetadata answer for fields the org does not have at all (a
    record without a fullName): ``check`` asks it whether a missing field is only hidden."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="http://soap.sforce.com/2006/04/metadata" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<readMetadataResponse><result><records xsi:type="CustomField"/></result>'
        "</readMetadataResponse></soapenv:Body></soapenv:Envelope>"
    )
    soap = API.replace("/services/data/v", "/services/Soap/m/") + "/"
    rsps.add(responses.POST, soap, body=body, content_type="text/xml")


def _describe(rsps: responses.RequestsMock, sobject: str, fields: list[dict[str, Any]]) -> None:
    rsps.add(
        responses.GET,
        f"{API}/sobjects/{sobject}/describe",
        json={"name": sobject, "fields": fields},
    )


def test_clean_org_has_no_problems(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    _describe(rsps, "Lead", LEAD_STANDARD + ALL_OUTPUTS)
    _describe(rsps, "Contact", CONTACT + ALL_OUTPUTS)
    _describe(rsps, "Account", ACCOUNT)
    _describe(rsps, "Task", [_field("LeadSync_Key__c", "string", externalId=True)])
    _describe(rsps, "Form_Submission__c", FORM)
    assert connector.check() == []
    described = connector.describe()
    assert set(described) == {"Lead", "Contact", "Account", "Task", "Form_Submission__c"}
    fit = described["Lead"]["LeadSync_Fit__c"]
    assert fit.type == "picklist" and fit.picklist_values == ("Good", "Poor")


def test_every_problem_says_how_to_fix_it(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    lead_outputs = [
        _picklist("LeadSync_Fit__c", "Good", "Poor"),
        _picklist("LeadSync_Readiness__c", "Hand-raiser", "Unready", "Do not contact"),
        _field("LeadSync_Score__c", "double", updateable=False),
        _field("LeadSync_Reason__c", "string", length=80),
        _field("LeadSync_Scored_At__c", "date"),
    ]
    _describe(
        rsps, "Lead", [f for f in LEAD_STANDARD if f["name"] != "Ownership__c"] + lead_outputs
    )
    _describe(rsps, "Contact", CONTACT + ALL_OUTPUTS)
    _describe(rsps, "Account", ACCOUNT)
    _describe(rsps, "Task", [_field("LeadSync_Key__c", "string")])
    rsps.add(
        responses.GET,
        f"{API}/sobjects/Form_Submission__c/describe",
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )
    _no_such_fields(rsps)

    problems = {(p.object_type, p.field): p for p in connector.check()}

    assert "ownership" in problems["Lead", "Ownership__c"].problem
    assert "leadsync fields create" in problems["Lead", "LeadSync_Team__c"].fix
    assert "Sales-ready" in problems["Lead", "LeadSync_Readiness__c"].fix
    assert "add picklist value 'Sales-ready'" in problems["Lead", "LeadSync_Readiness__c"].fix
    assert "cannot edit" in problems["Lead", "LeadSync_Score__c"].problem
    assert "leadsync install" in problems["Lead", "LeadSync_Score__c"].fix
    assert "255" in problems["Lead", "LeadSync_Reason__c"].fix
    assert "datetime" in problems["Lead", "LeadSync_Scored_At__c"].problem
    assert "External ID" in problems["Task", "LeadSync_Key__c"].fix
    assert "campaign_members" in problems["Form_Submission__c", "*"].fix


def test_a_user_without_metadata_access_still_gets_every_finding(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    lead_outputs = [f for f in ALL_OUTPUTS if f["name"] != "LeadSync_Team__c"]
    _describe(rsps, "Lead", LEAD_STANDARD + lead_outputs)
    _describe(rsps, "Contact", CONTACT + ALL_OUTPUTS)
    _describe(rsps, "Account", ACCOUNT)
    _describe(rsps, "Task", [_field("LeadSync_Key__c", "string", externalId=True)])
    _describe(rsps, "Form_Submission__c", FORM)
    fault = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="http://soap.sforce.com/2006/04/metadata"><soapenv:Body><soapenv:Fault>'
        "<faultcode>sf:INSUFFICIENT_ACCESS</faultcode><faultstring>INSUFFICIENT_ACCESS: "
        "insufficient access rights on cross-reference id</faultstring></soapenv:Fault>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    soap = API.replace("/services/data/v", "/services/Soap/m/") + "/"
    rsps.add(responses.POST, soap, body=fault, status=500, content_type="text/xml")

    problems = {(p.object_type, p.field): p for p in connector.check()}

    assert list(problems) == [("Lead", "LeadSync_Team__c")]
    assert "leadsync fields create" in problems["Lead", "LeadSync_Team__c"].fix


def test_create_fields_posts_tooling_custom_fields(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    lead_outputs = [f for f in ALL_OUTPUTS if f["name"] != "LeadSync_Fit__c"]
    lead_outputs = [f for f in lead_outputs if f["name"] != "LeadSync_Score__c"]
    _describe(rsps, "Lead", LEAD_STANDARD + lead_outputs)
    contact_outputs = [f for f in ALL_OUTPUTS if f["name"] != "LeadSync_Reason__c"]
    _describe(rsps, "Contact", CONTACT + contact_outputs)
    _describe(rsps, "Task", [])
    for _ in range(4):
        rsps.add(
            responses.POST,
            f"{API}/tooling/sobjects/CustomField",
            json={"id": "00N1", "success": True, "errors": []},
            status=201,
        )

    created = connector.create_fields()

    assert created == [
        "Lead.LeadSync_Fit__c",
        "Lead.LeadSync_Score__c",
        "Contact.LeadSync_Reason__c",
        "Activity.LeadSync_Key__c",
    ]
    bodies = [json.loads(c.request.body) for c in rsps.calls if "tooling" in c.request.url]
    assert bodies[0] == {
        "FullName": "Lead.LeadSync_Fit__c",
        "Metadata": {
            "label": "LeadSync Fit",
            "type": "Picklist",
            "description": "Written by LeadSync (fit); do not edit by hand.",
            "valueSet": {
                "restricted": True,
                "valueSetDefinition": {
                    "sorted": False,
                    "value": [
                        {"fullName": "Good", "label": "Good", "default": False},
                        {"fullName": "Poor", "label": "Poor", "default": False},
                    ],
                },
            },
        },
    }
    assert bodies[1]["Metadata"]["type"] == "Number"
    assert bodies[1]["Metadata"]["precision"] == 8
    assert bodies[2]["Metadata"] == {
        "label": "LeadSync Reason",
        "type": "Text",
        "length": 255,
        "description": "Written by LeadSync (reason); do not edit by hand.",
    }
    assert bodies[3]["Metadata"]["externalId"] is True


def test_check_compares_each_mapped_fields_type_with_what_is_read(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """A time kept in a Text field, an opt-out in a picklist, employees in a date, an address
    as an attribute: each is reported with the field type that fixes it."""
    lead = [
        _field("HasOptedOutOfEmail", "picklist") if f["name"] == "HasOptedOutOfEmail"
        else _field("NumberOfEmployees", "date") if f["name"] == "NumberOfEmployees"
        else _field("City", "address") if f["name"] == "City"
        else f
        for f in LEAD_STANDARD
    ]  # fmt: skip
    form = [
        _field("Submitted_At__c", "string") if f["name"] == "Submitted_At__c" else f for f in FORM
    ]
    _describe(rsps, "Lead", lead + ALL_OUTPUTS)
    _describe(rsps, "Contact", CONTACT + ALL_OUTPUTS)
    _describe(rsps, "Account", ACCOUNT)
    _describe(rsps, "Task", [_field("LeadSync_Key__c", "string", externalId=True)])
    _describe(rsps, "Form_Submission__c", form)

    problems = {(p.object_type, p.field): p for p in connector.check()}

    assert set(problems) == {
        ("Lead", "HasOptedOutOfEmail"),
        ("Lead", "NumberOfEmployees"),
        ("Lead", "City"),
        ("Form_Submission__c", "Submitted_At__c"),
    }
    submitted = problems["Form_Submission__c", "Submitted_At__c"]
    assert "is a string field" in submitted.problem and "date-time" in submitted.problem
    assert "activities.forms.submitted_at_field" in submitted.fix and "Date/Time" in submitted.fix
    assert "Checkbox" in problems["Lead", "HasOptedOutOfEmail"].fix
    assert "objects.Lead.attributes.employees" in problems["Lead", "NumberOfEmployees"].problem
    assert "address" in problems["Lead", "City"].problem


def test_statuses_are_checked_on_every_object_a_person_can_be(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """Issue 22 #5: a contact handed off or recycled needs a status field holding the status."""
    narrow = [f for f in CONTACT if f["name"] != "Contact_Status__c"]
    _describe(rsps, "Lead", LEAD_STANDARD + ALL_OUTPUTS)
    _describe(rsps, "Contact", [*narrow, _picklist("Contact_Status__c", "Nurture")])
    problems = connector.check_targets(["Working - Contacted", "Nurture"], [], [])
    assert [(p.object_type, p.field) for p in problems] == [("Contact", "Contact_Status__c")]
    assert "'Working - Contacted'" in problems[0].problem

    contact = connector.mapping.objects["Contact"].model_copy(update={"status": None})
    objects = {**connector.mapping.objects, "Contact": contact}
    connector.mapping = connector.mapping.model_copy(update={"objects": objects})
    connector._describes.clear()
    (unmapped,) = connector.check_targets(["Working - Contacted"], [], [])
    assert (unmapped.object_type, unmapped.field) == ("Contact", "status")
    assert "status_unmapped" in unmapped.problem and "objects.Contact.status" in unmapped.fix
    assert connector.check_targets([], [], []) == []


def test_create_fields_makes_the_contact_status_a_picklist_of_lead_statuses(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    _describe(rsps, "Lead", LEAD_STANDARD + ALL_OUTPUTS)
    narrow = [f for f in CONTACT if f["name"] != "Contact_Status__c"]
    _describe(rsps, "Contact", narrow + ALL_OUTPUTS)
    _describe(rsps, "Task", [_field("LeadSync_Key__c", "string", externalId=True)])
    rsps.add(
        responses.POST,
        f"{API}/tooling/sobjects/CustomField",
        json={"id": "00N1", "success": True, "errors": []},
        status=201,
    )
    assert connector.create_fields() == ["Contact.Contact_Status__c"]
    (call,) = [c for c in rsps.calls if "tooling" in c.request.url]
    metadata = json.loads(call.request.body)["Metadata"]
    assert metadata["type"] == "Picklist"
    values = metadata["valueSet"]["valueSetDefinition"]["value"]
    assert [v["fullName"] for v in values] == list(STATUSES)


def test_an_allowance_down_to_the_reserve_is_reported(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """A run would pause writes (salesforce.budget.reserve): check says so first."""
    used = "api-usage=14995/15000"  # 5 left; the tests' api_reserve is 10
    for sobject, fields in (
        ("Lead", LEAD_STANDARD + ALL_OUTPUTS),
        ("Contact", CONTACT + ALL_OUTPUTS),
        ("Account", ACCOUNT),
        ("Task", [_field("LeadSync_Key__c", "string", externalId=True)]),
        ("Form_Submission__c", FORM),
    ):
        rsps.add(
            responses.GET,
            f"{API}/sobjects/{sobject}/describe",
            json={"name": sobject, "fields": fields},
            headers={"Sforce-Limit-Info": used},
        )
    (problem,) = connector.check()
    assert (problem.object_type, problem.field) == ("org", "API calls")
    assert "only 5 API calls" in problem.problem and "api_reserve is 10" in problem.problem
