"""The SOQL tokenizer, parser and evaluator, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandboxes.salesforce.org import OrgState
from sandboxes.salesforce.soql_eval import compile_query
from sandboxes.salesforce.soql_parse import SoqlError, parse, tokenize


@pytest.fixture(scope="module")
def org() -> OrgState:
    org = OrgState()
    acme = org.insert("Account", {"Name": "Acme", "Industry": "Software", "NumberOfEmployees": 500})
    org.insert(
        "Contact",
        {"LastName": "O'Neil", "Email": "a@acme.com", "AccountId": acme},
        created=datetime(2024, 1, 1, tzinfo=UTC),
    )
    org.insert(
        "Contact", {"LastName": "Bo", "Email": None}, created=datetime(2024, 6, 1, tzinfo=UTC)
    )
    org.insert(
        "Contact",
        {"LastName": "Cy", "Email": "c@other.io", "AccountId": acme},
        created=datetime(2024, 3, 1, tzinfo=UTC),
    )
    return org


def names(org: OrgState, soql: str) -> list[str]:
    compiled = compile_query(org, soql)
    return [r["LastName"] for r in compiled.run(org, include_deleted=False)]


def test_string_literal_escapes_are_decoded() -> None:
    token = tokenize(r"'O\'Neil \\ \n'")[0]
    assert token.value == "O'Neil \\ \n"


@pytest.mark.parametrize(
    "literal",
    [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T00:00:00.000Z",
        "2024-01-01T01:00:00+0100",
    ],
)
def test_datetime_literal_forms_mean_the_same_instant(literal: str) -> None:
    assert tokenize(literal)[0].value == datetime(2024, 1, 1, tzinfo=UTC)


def test_where_and_or_parentheses_and_order(org: OrgState) -> None:
    soql = (
        "SELECT Id, LastName FROM Contact WHERE (Email LIKE '%ACME.com' OR Email = null) "
        "AND CreatedDate >= 2023-12-31T00:00:00Z ORDER BY CreatedDate DESC"
    )
    assert names(org, soql) == ["Bo", "O'Neil"]


def test_mixing_and_or_without_parentheses_is_malformed(org: OrgState) -> None:
    with pytest.raises(SoqlError) as caught:
        compile_query(
            org, "SELECT Id FROM Contact WHERE LastName = 'a' AND Email = 'b' OR Email = null"
        )
    assert caught.value.code == "MALFORMED_QUERY"


def test_in_not_in_and_not_equal_include_nulls(org: OrgState) -> None:
    assert names(
        org, "SELECT Id FROM Contact WHERE LastName IN ('Bo', 'cy') ORDER BY LastName"
    ) == ["Bo", "Cy"]
    assert names(
        org, "SELECT Id FROM Contact WHERE Email NOT IN ('a@acme.com') ORDER BY LastName"
    ) == ["Bo", "Cy"]
    assert names(
        org, "SELECT Id FROM Contact WHERE Email != 'c@other.io' ORDER BY LastName NULLS LAST"
    ) == ["Bo", "O'Neil"]


def test_parent_relationship_filters_and_orders(org: OrgState) -> None:
    assert names(
        org,
        "SELECT Id FROM Contact WHERE Account.NumberOfEmployees > 100 "
        "ORDER BY Account.Name, LastName LIMIT 5 OFFSET 1",
    ) == ["O'Neil"]


def test_unknown_field_has_the_api_message(org: OrgState) -> None:
    with pytest.raises(SoqlError) as caught:
        compile_query(org, "SELECT Foo FROM Lead")
    assert caught.value.code == "INVALID_FIELD"
    assert (
        "No such column 'Foo' on entity 'Lead'. If you are attempting to use a custom "
        "field, be sure to append the '__c'" in caught.value.message
    )
    assert "ERROR at Row:1:Column:8" in caught.value.message


def test_unknown_object_and_relationship(org: OrgState) -> None:
    with pytest.raises(SoqlError) as caught:
        compile_query(org, "SELECT Id FROM Leads")
    assert caught.value.code == "INVALID_TYPE"
    with pytest.raises(SoqlError) as caught:
        compile_query(org, "SELECT Acount.Name FROM Contact")
    assert caught.value.code == "INVALID_FIELD"


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Contact WHERE CreatedDate > '2024-01-01T00:00:00Z'",
        "SELECT Id FROM Contact WHERE Email = 5",
        "SELECT Id FROM Contact WHERE HasOptedOutOfEmail = 'false'",
        "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-01",
    ],
)
def test_literal_of_the_wrong_type_is_refused(org: OrgState, soql: str) -> None:
    with pytest.raises(SoqlError) as caught:
        compile_query(org, soql)
    assert caught.value.code == "INVALID_FIELD"
    assert "value of filter criterion for field" in caught.value.message


def test_malformed_id_literal(org: OrgState) -> None:
    with pytest.raises(SoqlError) as caught:
        compile_query(org, "SELECT Id FROM Contact WHERE Id = 'abc'")
    assert caught.value.code == "INVALID_QUERY_FILTER_OPERATOR"


def test_count_and_relative_dates_parse() -> None:
    query = parse("select count() from Lead where CreatedDate = LAST_N_DAYS:30")
    assert query.count and query.sobject == "Lead"


SOQL_WORDS = st.sampled_from(
    [
        "SELECT",
        "Id",
        "FROM",
        "Lead",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "(",
        ")",
        ",",
        "=",
        "!=",
        "<",
        "IN",
        "LIKE",
        "'x'",
        "'",
        "\\",
        "5",
        "-1.5",
        "null",
        "TRUE",
        "2024-01-01",
        "2024-01-01T00:00:00Z",
        "ORDER",
        "BY",
        "DESC",
        "NULLS",
        "LAST",
        "LIMIT",
        "OFFSET",
        "Account.Name",
        ".",
        "COUNT()",
        "LAST_N_DAYS:3",
        ":",
        "%",
        "é",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SOQL_WORDS, max_size=14).map(" ".join) | st.text(max_size=60))
def test_garbage_never_escapes_as_anything_but_soql_error(org: OrgState, text: str) -> None:
    try:
        compile_query(org, text)
    except SoqlError as error:
        assert error.code in {
            "MALFORMED_QUERY",
            "INVALID_FIELD",
            "INVALID_TYPE",
            "INVALID_QUERY_FILTER_OPERATOR",
            "NUMBER_OUTSIDE_VALID_RANGE",
        }
