"""The contract's install and uninstall, for every connector: plans that say what they will
do, steps that do it, and a second run that finds nothing left to do.

The org is shared by the checks of a session, so a check that uninstalls installs again
before it ends: the other checks write to outputs only an installed org lets them write.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import InstallStep
from tests.contract.drivers import Driver

CHANGES = {"create", "update", "assign", "unassign", "remove", "unchanged"}


def run(steps: Sequence[InstallStep]) -> None:
    for step in steps:
        if step.run is not None:
            step.run()


def pending(steps: Sequence[InstallStep]) -> list[InstallStep]:
    return [s for s in steps if s.change != "unchanged"]


def test_a_plan_names_each_step_and_only_changes_carry_a_run(crm: Driver) -> None:
    for plan in (crm.connector.plan_install([]), crm.connector.plan_uninstall(False)):
        for step in plan:
            assert step.what and step.change in CHANGES, step
            assert (step.run is None) == (step.change == "unchanged"), step
        assert len({s.what for s in plan}) == len(plan), "a plan names one thing twice"


def test_install_twice_changes_nothing_the_second_time(crm: Driver) -> None:
    run(crm.connector.plan_install([]))
    again = crm.connector.plan_install([])
    assert again, "install plans nothing at all"
    assert pending(again) == []


def test_uninstall_removes_what_install_made_and_install_restores_it(crm: Driver) -> None:
    run(crm.connector.plan_install([]))
    installed = {s.what for s in crm.connector.plan_install([])}
    try:
        removal = crm.connector.plan_uninstall(False)
        assert {s.what for s in pending(removal)} <= installed
        assert pending(removal), "uninstall plans to remove nothing install made"
        run(removal)
        assert pending(crm.connector.plan_uninstall(False)) == []
        assert pending(crm.connector.plan_install([])), (
            "install finds nothing to do after uninstall"
        )
    finally:
        run(crm.connector.plan_install([]))
    assert pending(crm.connector.plan_install([])) == []


def test_a_dry_run_plan_changes_nothing(crm: Driver) -> None:
    run(crm.connector.plan_install([]))
    removal = crm.connector.plan_uninstall(False)
    assert pending(removal)
    # Planned, not run: the org is as installed, so install still has nothing to do.
    assert pending(crm.connector.plan_install([])) == []
