"""Token flows against a configurable login_url, and refused credentials."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.salesforce import auth
from leadsync.errors import AuthError, RetriableSyncError

from .conftest import INSTANCE, LOGIN, TOKEN_URL, make_settings


def _form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text).items()}


def _ok(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "t", "instance_url": INSTANCE})


def test_client_credentials(rsps: responses.RequestsMock) -> None:
    _ok(rsps)
    token = auth.fetch_token(make_settings(), requests.Session(), connector="sf")
    assert token == auth.Token("t", INSTANCE)
    assert _form(rsps.calls[0]) == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "csecret",
    }
    assert "t'" not in repr(token) and "***" in repr(token)


def test_password_appends_security_token(rsps: responses.RequestsMock) -> None:
    _ok(rsps)
    settings = make_settings(auth="password", username="u@x", password="pw", security_token="st")
    auth.fetch_token(settings, requests.Session(), connector="sf")
    form = _form(rsps.calls[0])
    assert form["grant_type"] == "password"
    assert form["username"] == "u@x"
    assert form["password"] == "pwst"


def test_refresh_token(rsps: responses.RequestsMock) -> None:
    _ok(rsps)
    settings = make_settings(auth="refresh_token", refresh_token="rt")
    auth.fetch_token(settings, requests.Session(), connector="sf")
    assert _form(rsps.calls[0]) == {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "refresh_token": "rt",
        "client_secret": "csecret",
    }


def test_jwt_bearer_signs_the_documented_claims(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    _ok(rsps)
    settings = make_settings(auth="jwt_bearer", username="u@x", private_key_file=key_file)
    auth.fetch_token(settings, requests.Session(), connector="sf")
    form = _form(rsps.calls[0])
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], key.public_key(), algorithms=["RS256"], audience=LOGIN)
    assert claims["iss"] == "cid" and claims["sub"] == "u@x"
    assert claims["exp"] > 0


def test_access_token_needs_no_call() -> None:
    settings = make_settings(auth="access_token", access_token="given", instance_url=INSTANCE)
    token = auth.fetch_token(settings, requests.Session(), connector="sf")
    assert token.access_token == "given" and not auth.can_renew(settings)


def test_refused_credentials_name_the_settings(rsps: responses.RequestsMock) -> None:
    rsps.add(
        responses.POST,
        TOKEN_URL,
        status=400,
        json={"error": "invalid_client", "error_description": "invalid client credentials"},
    )
    with pytest.raises(AuthError) as err:
        auth.fetch_token(make_settings(), requests.Session(), connector="salesforce")
    text = str(err.value)
    assert "invalid_client" in text
    assert "[connectors.salesforce] client_id and client_secret" in text
    assert "csecret" not in text


def test_token_endpoint_outage_is_retriable(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, status=503, body="down")
    with pytest.raises(RetriableSyncError):
        auth.fetch_token(make_settings(), requests.Session(), connector="sf")


def test_instance_url_must_agree(rsps: responses.RequestsMock) -> None:
    _ok(rsps)
    settings = make_settings(instance_url="https://other.my.salesforce.com")
    with pytest.raises(AuthError, match="instance_url"):
        auth.fetch_token(settings, requests.Session(), connector="sf")
