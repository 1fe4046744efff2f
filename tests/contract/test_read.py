"""The contract's reads by id, for every connector: they answer what the pulls answered."""

from __future__ import annotations

import random

from tests.contract.drivers import Driver


def test_read_people_by_id_equals_what_the_full_pull_gave(crm: Driver) -> None:
    fresh = [crm.new_person(f"read-{n}@example.com") for n in range(3)]
    pulled = {p.ref: p for p in crm.connector.pull_people(None)}
    live = sorted(ref for ref, person in pulled.items() if not person.deleted)
    # Some people the CRM generated, some just created, one named twice, one never there.
    chosen = [*random.Random(26).sample(live, 8), *fresh, fresh[0]]
    read = crm.connector.read_people([*chosen, crm.absent])
    assert len(read) == len({p.ref for p in read}), "a person was read twice"
    assert {p.ref: p for p in read} == {ref: pulled[ref] for ref in chosen}


def test_read_activities_by_id_equals_what_the_full_pull_gave(crm: Driver) -> None:
    people = [crm.new_person(f"read-activities-{n}@example.com") for n in range(3)]
    titles = {f"Read meeting {n}": people[n % 2] for n in range(3)}
    for title, ref in titles.items():
        crm.log_meeting(ref, title)
    ids = set(people)
    pulled = {
        a.ref: a for a in crm.connector.pull_activities(None) if not a.deleted and a.person in ids
    }
    assert {a.name for a in pulled.values()} == set(titles)
    records = crm.connector.read_people(people)
    read = crm.connector.read_activities(records)
    assert len(read) == len({a.ref for a in read}), "an activity was read twice"
    assert {a.ref: a for a in read} == pulled


def test_find_people_by_address_in_any_case_finds_the_live_ones(crm: Driver) -> None:
    live = crm.new_person("Find.Me@example.com")
    gone = crm.new_person("find-gone@example.com")
    crm.delete(gone)
    found = crm.connector.find_people(["FIND.ME@EXAMPLE.COM", "find-gone@example.com"])
    assert [p.ref for p in found] == [live]
    assert found[0].email is not None and found[0].email.lower() == "find.me@example.com"


def test_activities_kept_by_address_alone_are_read_for_an_address_no_record_holds(
    crm: Driver,
) -> None:
    """A person back after ``forget`` whose record here is gone is read whole by address:
    what the CRM ties to the address alone comes back (bench/life.py seed 2754)."""
    gone = crm.new_person("by-address@example.com")
    crm.delete(gone)
    crm.address_activity("By-Address@example.com")
    crm.address_activity("someone-else@example.com")
    found = crm.connector.read_address_activities(["BY-ADDRESS@example.com"])
    assert [(a.email or "").lower() for a in found] == ["by-address@example.com"]
    assert found[0].person is None and not found[0].deleted
    assert crm.connector.read_address_activities([]) == []


def test_users_list_owners_active_and_not_and_usage_counts_the_calls(crm: Driver) -> None:
    users = {u.id: u for u in crm.connector.users()}
    active, inactive = crm.owners.active, crm.owners.refused[0]
    assert users[active].active and not users[inactive].active
    assert crm.connector.usage().calls > 0
