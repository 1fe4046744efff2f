"""Fixtures: one generated portal served over real HTTP, and the official client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hubspot import HubSpot

from sandboxes.hubspot import HubSpotSandbox, PortalState, generate_portal

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SHARED = ("shared.person@both-crms.example", "Another.Shared@Both-CRMs.example")


def make_client(sb: HubSpotSandbox) -> HubSpot:
    return HubSpot(access_token=sb.access_token, host=sb.url)


@pytest.fixture(scope="module")
def portal() -> PortalState:
    return generate_portal(contacts=400, seed=11, now=NOW, shared_emails=SHARED)


@pytest.fixture(scope="module")
def sb(portal: PortalState) -> Iterator[HubSpotSandbox]:
    # Generous limits so functional tests never trip the rate limiter by accident.
    with HubSpotSandbox(portal, rate_limit_per_10s=10_000, search_rate_per_s=1_000) as sandbox:
        yield sandbox


@pytest.fixture()
def client(sb: HubSpotSandbox) -> Iterator[HubSpot]:
    sb.inject({"kind": "clear"})
    yield make_client(sb)
    sb.inject({"kind": "clear"})


@pytest.fixture()
def fresh() -> Iterator[HubSpotSandbox]:
    """A small, private sandbox for tests that change limits or global state."""
    with HubSpotSandbox(
        generate_portal(contacts=30, seed=3, now=NOW), rate_limit_per_10s=5, daily_limit=1_000
    ) as sandbox:
        yield sandbox
