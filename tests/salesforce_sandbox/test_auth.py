"""OAuth flows over HTTPS and session expiry."""

from __future__ import annotations

import time

import jwt
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from sandboxes.salesforce import SalesforceSandbox
from tests.salesforce_sandbox.conftest import VERSION, Raw, http_session


def token(sandbox: SalesforceSandbox, **form: str) -> tuple[int, dict[str, str]]:
    response = http_session(sandbox).post(f"{sandbox.url}/services/oauth2/token", data=form)
    return response.status_code, response.json()


def test_client_credentials_answers_the_documented_fields(sandbox: SalesforceSandbox) -> None:
    status, body = token(
        sandbox,
        grant_type="client_credentials",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
    )
    assert status == 200
    assert body["instance_url"] == sandbox.url and body["token_type"] == "Bearer"
    assert {"access_token", "id", "issued_at", "signature"} <= body.keys()


def test_password_flow_accepts_password_with_or_without_token(sandbox: SalesforceSandbox) -> None:
    for password in (sandbox.password, sandbox.password + sandbox.security_token):
        status, _ = token(
            sandbox,
            grant_type="password",
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            username=sandbox.username,
            password=password,
        )
        assert status == 200
    status, body = token(
        sandbox,
        grant_type="password",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        username=sandbox.username,
        password="wrong",
    )
    assert (status, body) == (
        400,
        {"error": "invalid_grant", "error_description": "authentication failure"},
    )


def test_refresh_token_flow(sandbox: SalesforceSandbox) -> None:
    status, _ = token(
        sandbox,
        grant_type="refresh_token",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        refresh_token=sandbox.refresh_token,
    )
    assert status == 200
    status, body = token(
        sandbox,
        grant_type="refresh_token",
        client_id=sandbox.client_id,
        refresh_token="5Aep-not-it",
    )
    assert status == 400 and body["error"] == "invalid_grant"


def test_bad_client_is_invalid_client(sandbox: SalesforceSandbox) -> None:
    status, body = token(
        sandbox, grant_type="client_credentials", client_id=sandbox.client_id, client_secret="nope"
    )
    assert (status, body["error"]) == (400, "invalid_client")


def _assertion(sandbox: SalesforceSandbox, **overrides: object) -> str:
    claims = {
        "iss": sandbox.client_id,
        "sub": sandbox.username,
        "aud": sandbox.url,
        "exp": int(time.time()) + 180,
        **overrides,
    }
    return jwt.encode(claims, sandbox.jwt_private_key_pem, algorithm="RS256")


def test_jwt_bearer_flow_verifies_the_assertion(sandbox: SalesforceSandbox) -> None:
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    status, body = token(sandbox, grant_type=grant, assertion=_assertion(sandbox))
    assert status == 200 and body["access_token"]
    sf = Salesforce(
        instance_url=sandbox.url,
        session_id=body["access_token"],
        version=VERSION,
        session=http_session(sandbox),
    )
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0
    for bad, error in (
        ({"exp": int(time.time()) - 10}, "invalid_grant"),
        ({"aud": "https://login.salesforce.com"}, "invalid_grant"),
        ({"iss": "someone-else"}, "invalid_client_id"),
    ):
        status, body = token(sandbox, grant_type=grant, assertion=_assertion(sandbox, **bad))
        assert (status, body["error"]) == (400, error)
    forged = jwt.encode(
        {
            "iss": sandbox.client_id,
            "sub": sandbox.username,
            "aud": sandbox.url,
            "exp": int(time.time()) + 60,
        },
        "x" * 32,
        algorithm="HS256",
    )
    status, body = token(sandbox, grant_type=grant, assertion=forged)
    assert (status, body["error"]) == (400, "invalid_grant")


def test_missing_or_expired_session_is_invalid_session_id(
    sandbox: SalesforceSandbox, raw: Raw
) -> None:
    unauthenticated = http_session(sandbox).get(raw.base + "/limits")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert raw.call("GET", "/limits").status_code == 200
    sandbox.inject({"kind": "expire_sessions"})
    assert raw.call("GET", "/limits").status_code == 401


def test_simple_salesforce_sees_expiry_as_expired_session(sandbox: SalesforceSandbox) -> None:
    from tests.salesforce_sandbox.conftest import client

    sf = client(sandbox)
    sandbox.inject({"kind": "expire_sessions"})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead LIMIT 1")


def test_session_ttl_expires_tokens() -> None:
    from sandboxes.salesforce.generator import generate_org

    with SalesforceSandbox(generate_org(leads=20, seed=1), session_ttl=0.2) as short:
        raw = Raw(short)
        assert raw.call("GET", "/limits").status_code == 200
        time.sleep(0.3)
        assert raw.call("GET", "/limits").status_code == 401
