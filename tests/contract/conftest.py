"""One connector contract, one suite: every check runs over every connector.

The ``org`` fixture is parametrized over the Salesforce sandbox, the HubSpot sandbox and the
in-memory CRM the engine tests use; each is started once per session (per xdist worker).
``crm`` is that org's driver with a newly connected connector for each check, so no check
depends on state another left in a connector. A check that a
connector fails is marked ``xfail(strict=True)`` for that connector alone, with the defect,
by a ``defect`` mark on the check::

    @pytest.mark.defect("hubspot-sandbox", "what is wrong, in which file and function")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.contract.drivers import Driver
from tests.contract.hubspot_driver import hubspot_driver
from tests.contract.memory_driver import memory_driver
from tests.contract.salesforce_driver import salesforce_driver

DRIVERS: dict[str, Callable[[Path], AbstractContextManager[Any]]] = {
    "salesforce-sandbox": salesforce_driver,
    "hubspot-sandbox": hubspot_driver,
    "memory": memory_driver,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "defect(crm, reason): the check fails for that CRM's connector; xfail(strict) there",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A check marked ``defect(crm, reason)`` is a strict xfail for that CRM alone, so the
    day the defect is fixed the suite says so."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        for mark in item.iter_markers("defect"):
            label, reason = mark.args
            if label not in DRIVERS:
                raise pytest.UsageError(f"defect mark names {label!r}; one of {list(DRIVERS)}")
            if callspec.params.get("org") == label:
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


@pytest.fixture(scope="session", params=list(DRIVERS))
def org(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Driver]:
    """Each CRM in turn, started once, and its org driver."""
    with DRIVERS[request.param](tmp_path_factory.mktemp(request.param)) as driver:
        yield driver


@pytest.fixture
def crm(org: Driver) -> Iterator[Driver]:
    """The org's driver with a newly connected connector."""
    org.connect()
    try:
        yield org
    finally:
        org.connector.close()
