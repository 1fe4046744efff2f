"""The dashboard's owner names (``service.owners``): read once per ``ttl``, kept while a CRM
cannot answer, empty for a connector that has no user list."""

from __future__ import annotations

from dataclasses import dataclass

from leadsync.records import CrmUser
from leadsync.service.owners import RETRY_SECONDS, OwnerNames


@dataclass
class Users:
    users_now: list[CrmUser]
    calls: int = 0
    failing: bool = False

    def users(self) -> list[CrmUser]:
        self.calls += 1
        if self.failing:
            raise ConnectionError("the CRM did not answer")
        return self.users_now


def test_names_are_read_once_per_ttl_and_kept_through_a_failure() -> None:
    now = [0.0]
    crm = Users([CrmUser("005A", "Ann Rep"), CrmUser("00GQ", "Sales queue", is_queue=True)])
    names = OwnerNames({"salesforce": crm}, ttl=600, clock=lambda: now[0])
    assert names.of("salesforce") == {"005A": "Ann Rep", "00GQ": "Sales queue"}
    now[0] = 599
    crm.users_now = [CrmUser("005A", "Ann Renamed")]
    assert names.of("salesforce")["005A"] == "Ann Rep" and crm.calls == 1
    now[0] = 600
    assert names.of("salesforce") == {"005A": "Ann Renamed"} and crm.calls == 2
    now[0] = 1200
    crm.failing = True
    assert names.of("salesforce") == {"005A": "Ann Renamed"}  # the last names it gave
    now[0] = 1200 + RETRY_SECONDS - 1
    assert names.of("salesforce") == {"005A": "Ann Renamed"} and crm.calls == 3
    assert names.of("hubspot") == {}


def test_a_crm_that_never_answered_leaves_ids() -> None:
    crm = Users([], failing=True)
    assert OwnerNames({"hubspot": crm}).of("hubspot") == {}
