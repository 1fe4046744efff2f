"""The SOQL builder: quoting, identifiers, datetimes; no value can leave its literal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce import soql


def test_string_escapes_every_special_character() -> None:
    assert soql.literal('O\'Brien \\ "x"\n\r\t\b\f') == (
        "'O\\'Brien \\\\ \\\"x\\\"\\n\\r\\t\\b\\f'"
    )


def test_percent_and_underscore_escaped_only_inside_like() -> None:
    assert soql.literal("50%_off") == "'50%_off'"
    assert soql.like("Name", "50%_off").text == "Name LIKE '50\\%\\_off%'"


def test_datetimes_are_utc_with_z() -> None:
    berlin = timezone(timedelta(hours=2))
    assert soql.literal(datetime(2024, 1, 1, 2, 0, tzinfo=berlin)) == "2024-01-01T00:00:00Z"
    assert soql.literal(datetime(2024, 1, 1)) == "2024-01-01T00:00:00Z"
    assert soql.literal(date(2024, 5, 6)) == "2024-05-06"


def test_other_literals() -> None:
    assert soql.literal(None) == "null"
    assert soql.literal(True) == "true"
    assert soql.literal(12) == "12"
    assert soql.in_list(["a", "b'"]) == "('a', 'b\\'')"
    with pytest.raises(soql.SoqlError):
        soql.in_list([])
    with pytest.raises(soql.SoqlError):
        soql.literal(float("nan"))


@pytest.mark.parametrize(
    "name",
    ["Id", "LeadSync_Fit__c", "Account.Industry", "Lead__r.Email", "Who.Name", "a1_b"],
)
def test_valid_identifiers(name: str) -> None:
    assert soql.identifier(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1Id", "Id, Name", "Id FROM User--", "Name'", "A..B", "_x", "Id\n", "a b"],
)
def test_invalid_identifiers(name: str) -> None:
    with pytest.raises(soql.SoqlError):
        soql.identifier(name)


def test_select_shape() -> None:
    since = datetime(2024, 1, 1, tzinfo=UTC)
    text = soql.select(
        ["Id", "Email", "Id"],
        "Lead",
        [soql.ge("SystemModstamp", since), soql.eq("Status", "Open")],
        order_by=["SystemModstamp"],
        limit=10,
    )
    assert text == (
        "SELECT Id, Email FROM Lead WHERE SystemModstamp >= 2024-01-01T00:00:00Z "
        "AND Status = 'Open' ORDER BY SystemModstamp LIMIT 10"
    )
    assert soql.count("Lead", [soql.eq("IsDeleted", False)]) == (
        "SELECT COUNT() FROM Lead WHERE IsDeleted = false"
    )


def _unescape_literal(text: str) -> str:
    """Read one SOQL string literal the way the server does; fail if it ends early."""
    assert text[0] == "'"
    out, i = [], 1
    table = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1]
            out.append(table.get(nxt, nxt))
            i += 2
            continue
        if ch == "'":
            assert i == len(text) - 1, "literal closed before its end"
            return "".join(out)
        out.append(ch)
        i += 1
    raise AssertionError("literal never closed")


@given(st.text())
def test_no_string_escapes_its_literal(value: str) -> None:
    rendered = soql.literal(value)
    assert _unescape_literal(rendered) == value
    clause = soql.eq("Email", value).text
    assert clause == f"Email = {rendered}"


@given(st.text())
def test_like_prefix_stays_inside_its_literal(value: str) -> None:
    text = soql.like("Name", value).text
    literal = text[len("Name LIKE ") :]
    assert _unescape_literal(literal) == value + "%"
