"""Creation and conversion times against the HTTPS sandbox, by REST and by Bulk 2.0: every
Lead and Contact comes with its CreatedDate, and a converted Lead with its ConvertedDate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time

import pytest

from connectors.salesforce.pull import parse_datetime
from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import connector_for


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=120, seed=41), port=0) as sandbox:
        yield sandbox


def _as_utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if value is None:
        return None
    if hasattr(value, "isoformat"):  # a date: ConvertedDate is one
        return datetime.combine(value, time(), UTC)  # type: ignore[arg-type]
    return parse_datetime(value)


@pytest.mark.parametrize("bulk_query_threshold", [10_000, 1], ids=["rest", "bulk"])
def test_people_carry_their_crm_creation_and_conversion_times(
    sb: SalesforceSandbox, bulk_query_threshold: int
) -> None:
    connector = connector_for(sb, bulk_query_threshold=bulk_query_threshold)
    pulled = {p.ref.external_id: p for p in connector.pull_people(None)}
    org = {
        str(row["Id"]): row
        for sobject in ("Lead", "Contact")
        for row in sb.org.records(sobject)
        if not row.get("IsDeleted")
    }
    assert set(org) <= set(pulled)
    created = {i: pulled[i].created_at for i in org}
    assert created == {i: _as_utc(row["CreatedDate"]) for i, row in org.items()}
    assert len({c.date() for c in created.values() if c}) > 30  # spread over months
    converted = {i: row for i, row in org.items() if row.get("IsConverted")}
    assert converted, "the generated org converts some leads"
    assert {i: pulled[i].converted_at for i in converted} == {
        i: _as_utc(row["ConvertedDate"]) for i, row in converted.items()
    }
