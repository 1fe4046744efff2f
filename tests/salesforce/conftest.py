"""Shared fixtures for the Salesforce connector's `responses`-based tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.mapping import load_mapping
from connectors.salesforce.settings import SalesforceSettings

INSTANCE = "https://acme.my.salesforce.com"
LOGIN = "https://login.example.com"
API = f"{INSTANCE}/services/data/v62.0"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
LIMIT_HEADERS = {"Sforce-Limit-Info": "api-usage=100/15000"}


def make_settings(**overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "auth": "client_credentials",
        "client_id": "cid",
        "client_secret": "csecret",
        "login_url": LOGIN,
        "max_retries": 3,
        "bulk_write_threshold": 500,
        "bulk_query_threshold": 3,
        "api_reserve": 10,
    }
    values.update(overrides)
    return SalesforceSettings(**values)


def token_ok(rsps: responses.RequestsMock, token: str = "tok-1") -> None:
    rsps.add(
        responses.POST,
        TOKEN_URL,
        json={"access_token": token, "instance_url": INSTANCE, "token_type": "Bearer"},
    )


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def connector(rsps: responses.RequestsMock, sleeps: Sleeps) -> Iterator[SalesforceConnector]:
    token_ok(rsps)
    conn = SalesforceConnector("salesforce", make_settings(), load_mapping(), sleep=sleeps)
    yield conn
    conn.close()
