"""The contract's describe and check, for every connector: a missing mapped field is found."""

from __future__ import annotations

from tests.contract.drivers import Driver


def test_check_reports_a_mapped_field_the_crm_lacks_and_describe_does_not_list_it(
    crm: Driver,
) -> None:
    missing = crm.missing_field()
    try:
        problems = missing.connector.check()
        described = missing.connector.describe()
    finally:
        missing.connector.close()
    named = [p for p in problems if p.field == missing.field]
    assert len(named) == 1, problems
    assert named[0].problem and named[0].fix, named[0]
    assert missing.field not in described[missing.object_type]
    assert described[missing.object_type], "describe listed no field of the mapped object"


def test_check_of_the_shipped_mapping_against_its_own_crm_is_clean(crm: Driver) -> None:
    assert crm.connector.check() == []
