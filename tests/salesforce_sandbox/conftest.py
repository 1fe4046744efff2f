"""One sandbox per test module (generation and TLS setup are the slow part), plus clients."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from sandboxes.salesforce import SalesforceSandbox, generate_org

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
VERSION = "62.0"


def http_session(sandbox: SalesforceSandbox) -> requests.Session:
    """A session that trusts only the sandbox CA.

    ``trust_env = False`` matters: with REQUESTS_CA_BUNDLE set, requests lets the environment
    override ``session.verify``.
    """
    session = requests.Session()
    session.verify = sandbox.ca_file
    session.trust_env = False
    return session


def client(sandbox: SalesforceSandbox) -> Salesforce:
    """simple-salesforce over HTTPS with a token from the client-credentials flow."""
    session = http_session(sandbox)
    token = session.post(
        f"{sandbox.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    ).json()["access_token"]
    return Salesforce(instance_url=sandbox.url, session_id=token, version=VERSION, session=session)


def grant(sf: Salesforce, user_id: str, fields: list[str], *, edit: bool = True) -> str:
    """What an admin does for a new field: a permission set granting it, assigned to the user
    (ordinary sObjects through REST). Returns the permission set's id."""
    name = "Grant_" + "_".join(f.split(".")[1].removesuffix("__c") for f in fields)[:60]
    created = sf.PermissionSet.create({"Name": name, "Label": name.replace("_", " ")})
    for field in fields:
        sf.FieldPermissions.create(
            {
                "ParentId": created["id"],
                "SobjectType": field.split(".")[0],
                "Field": field,
                "PermissionsRead": True,
                "PermissionsEdit": edit,
            }
        )
    sf.PermissionSetAssignment.create({"PermissionSetId": created["id"], "AssigneeId": user_id})
    return str(created["id"])


class Raw:
    """Plain HTTPS calls with a bearer token, for asserting on status codes and error bodies."""

    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sandbox = sandbox
        self.session = http_session(sandbox)
        self.token = sandbox.access_token()
        self.base = f"{sandbox.url}/services/data/v{VERSION}"

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        url = path if path.startswith("http") else self.base + path
        return self.session.request(method, url, headers=headers, **kw)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    org = generate_org(leads=3000, seed=11, now=NOW)
    with SalesforceSandbox(org) as running:
        yield running


@pytest.fixture
def sf(sandbox: SalesforceSandbox) -> Salesforce:
    return client(sandbox)


@pytest.fixture
def raw(sandbox: SalesforceSandbox) -> Raw:
    return Raw(sandbox)


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").inject({"kind": "clear"})
