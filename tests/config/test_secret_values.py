"""Secrets that are empty, blank or too weak are refused at start-up like missing ones.

An empty ``${VAR}`` must never become a silently "set" secret: an empty service token would
leave the service open, an empty HubSpot client secret would verify webhooks with an empty
key (anyone can sign). Every message names the file and the key, says what is allowed, and
never repeats the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsync.config import load_settings, settings_from_dict
from leadsync.errors import ConfigError

STRONG = "s" * 40
#: The service token's minimum length (a 1-character token was accepted before).
MIN_SERVICE_TOKEN = 32

#: Every secret the config reads, with the sibling keys that make its section valid.
SECRETS: dict[str, dict[str, Any]] = {
    "service.access_token": {"service": {"host": "127.0.0.1"}},
    "connectors.hubspot.access_token": {"connectors": {"hubspot": {}}},
    "connectors.hubspot.client_secret": {"connectors": {"hubspot": {"access_token": STRONG}}},
    "connectors.salesforce.client_secret": {
        "connectors": {"salesforce": {"auth": "client_credentials", "client_id": "cid"}}
    },
    "connectors.salesforce.password": {
        "connectors": {
            "salesforce": {
                "auth": "password",
                "client_id": "cid",
                "client_secret": STRONG,
                "username": "u@example.com",
            }
        }
    },
    "connectors.salesforce.security_token": {
        "connectors": {
            "salesforce": {
                "auth": "password",
                "client_id": "cid",
                "client_secret": STRONG,
                "username": "u@example.com",
                "password": STRONG,
            }
        }
    },
    "connectors.salesforce.refresh_token": {
        "connectors": {"salesforce": {"auth": "refresh_token", "client_id": "cid"}}
    },
    "connectors.salesforce.access_token": {
        "connectors": {
            "salesforce": {"auth": "access_token", "instance_url": "https://acme.my.salesforce.com"}
        }
    },
}


def _with_secret(key: str, value: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for section, body in SECRETS[key].items():
        data[section] = {k: dict(v) if isinstance(v, dict) else v for k, v in body.items()}
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return data


def _load(tmp_path: Path, data: dict[str, Any], environ: dict[str, str]) -> list[str]:
    path = tmp_path / "leadsync.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ)
    return info.value.problems


blank = st.text(alphabet=" \t", max_size=3)
#: Each example writes its own file over the last one in ``tmp_path``.
FIXTURE = HealthCheck.function_scoped_fixture


@settings(max_examples=80, deadline=None, suppress_health_check=[FIXTURE])
@given(key=st.sampled_from(sorted(SECRETS)), value=blank, through_env=st.booleans())
def test_an_empty_or_blank_secret_is_refused_naming_file_and_key(
    tmp_path: Path, key: str, value: str, through_env: bool
) -> None:
    environ = {"THE_SECRET": value} if through_env else {}
    written = "${THE_SECRET}" if through_env else value
    found = _load(tmp_path, _with_secret(key, written), environ)
    (line,) = [p for p in found if key in p]
    assert line.startswith(f"{tmp_path / 'leadsync.toml'}: {key}: "), line
    assert "empty" in line
    if through_env:
        assert "THE_SECRET" in line


@settings(max_examples=60, deadline=None, suppress_health_check=[FIXTURE])
@given(
    token=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126),
        min_size=1,
        max_size=MIN_SERVICE_TOKEN - 1,
    ),
    host=st.sampled_from(["127.0.0.1", "0.0.0.0", "::1", "10.1.2.3"]),
)
def test_a_short_service_token_is_refused_with_the_minimum(
    tmp_path: Path, token: str, host: str
) -> None:
    data = {"service": {"host": host, "access_token": "${LEADSYNC_TOKEN}"}}
    (line,) = _load(tmp_path, data, {"LEADSYNC_TOKEN": token})
    assert line.startswith(f"{tmp_path / 'leadsync.toml'}: service.access_token: ")
    assert f"at least {MIN_SERVICE_TOKEN} characters" in line
    assert f"{len(token)} " in line  # says how long the given one is


def test_a_weak_token_is_not_repeated_in_the_message(tmp_path: Path) -> None:
    data = {"service": {"access_token": "w3ak-t0ken-QQ"}}
    (line,) = _load(tmp_path, data, {})
    assert "service.access_token" in line and "w3ak-t0ken-QQ" not in line


def test_an_empty_token_on_a_public_bind_is_refused_not_an_open_service(tmp_path: Path) -> None:
    data = {"service": {"host": "0.0.0.0", "access_token": "${LEADSYNC_TOKEN}"}}
    (line,) = _load(tmp_path, data, {"LEADSYNC_TOKEN": ""})
    assert "service.access_token" in line and "LEADSYNC_TOKEN" in line and "empty" in line


def test_a_weak_hubspot_client_secret_is_refused(tmp_path: Path) -> None:
    data = _with_secret("connectors.hubspot.client_secret", "${HS_APP_SECRET}")
    (line,) = _load(tmp_path, data, {"HS_APP_SECRET": "changeme"})
    assert "connectors.hubspot.client_secret" in line and "at least 32 characters" in line
    assert "changeme" not in line


def test_strong_secrets_load(tmp_path: Path) -> None:
    token = "t0k3n-" * 6
    data = {
        "service": {"host": "0.0.0.0", "access_token": "${LEADSYNC_TOKEN}"},
        "connectors": {
            "hubspot": {"access_token": "${HS}", "client_secret": "${HS_APP}"},
        },
    }
    path = tmp_path / "leadsync.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    secret = "6a0f5f7e-3c1b-4d2a-9e8f-0b1c2d3e4f5a"
    loaded = load_settings(path, environ={"LEADSYNC_TOKEN": token, "HS": "pat-1", "HS_APP": secret})
    assert loaded.service.access_token is not None
    assert loaded.service.access_token.get_secret_value() == token
    hubspot = loaded.connectors.hubspot
    assert hubspot is not None and hubspot.client_secret is not None


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    (line,) = _load(tmp_path, {"service": {"access_token": 12345678901234567890}}, {})
    assert "service.access_token" in line and "12345678901234567890" not in line


@pytest.mark.parametrize(
    ("crm", "key", "extra"),
    [
        ("hubspot", "mapping", {"access_token": STRONG}),
        ("hubspot", "ca_bundle", {"access_token": STRONG}),
        ("salesforce", "private_key_file",
         {"auth": "jwt_bearer", "client_id": "cid", "username": "u@example.com"}),
    ],
)  # fmt: skip
@pytest.mark.parametrize("through_env", [False, True])
def test_an_empty_file_path_is_refused_not_read_as_the_current_folder(
    tmp_path: Path, crm: str, key: str, extra: dict[str, Any], through_env: bool
) -> None:
    value = "${THE_PATH}" if through_env else ""
    data = {"connectors": {crm: {**extra, key: value}}}
    found = _load(tmp_path, data, {"THE_PATH": ""})
    (line,) = [p for p in found if f"connectors.{crm}.{key}" in p]
    assert "empty" in line


def test_an_unexpanded_reference_is_checked_once_expanded() -> None:
    # settings_from_dict validates data as given: `leadsync tune` reads the example raw.
    raw = {
        "service": {"access_token": "${LEADSYNC_TOKEN}"},
        "connectors": {"hubspot": {"access_token": "${HS}", "client_secret": "${HS_APP}"}},
    }
    settings_ = settings_from_dict(raw, "raw.toml")
    assert settings_.service.access_token is not None
