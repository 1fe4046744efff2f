"""DNS rebinding: the service answers only to the host names it is reached by.

A web page the operator visits can point its own name at 127.0.0.1 and read whatever the
tokenless loopback dashboard serves, unless the dashboard refuses a ``Host`` it does not
know. The probes stay open to any ``Host`` (a kubelet sends the pod IP); they reveal nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from leadsync.config import settings_from_dict
from leadsync.service.hosts import served_hosts
from leadsync.service.names import LOOPBACK_HOSTS
from leadsync.store import Store
from tests.service.helpers import Harness, open_test_store

TOKEN = "host-token-" + "0" * 32
PAGES = ["/", "/cycles", "/rejected", "/handoffs", "/backfills", "/report", "/metrics", "/login"]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store: Store = open_test_store(tmp_path)
    yield Harness(store)
    store.close()


foreign = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){1,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
).filter(lambda h: h not in (*LOOPBACK_HOSTS, "testserver") and not h.startswith("127."))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(host=foreign, port=st.sampled_from(["", ":8080", ":80"]), page=st.sampled_from(PAGES))
def test_the_tokenless_dashboard_refuses_foreign_host_names(
    harness: Harness, host: str, port: str, page: str
) -> None:
    with TestClient(harness.app(allowed_hosts=LOOPBACK_HOSTS)) as client:
        answer = client.get(page, headers={"Host": host + port})
    assert answer.status_code == 400, (host, page)
    assert "handoffs" not in answer.text.lower()


def test_loopback_names_and_probes_from_anywhere_are_served(harness: Harness) -> None:
    with TestClient(harness.app(allowed_hosts=LOOPBACK_HOSTS)) as client:
        for host in ("localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST"):
            assert client.get("/handoffs", headers={"Host": host}).status_code == 200, host
        for probe in ("/healthz", "/readyz"):
            answer = client.get(probe, headers={"Host": "10.244.1.7:8080"})
            assert answer.status_code == 200, probe
        # HubSpot signs the URL it called, so a delivery via a foreign name never verified;
        # now it does not get that far.
        assert client.post("/hooks/hubspot", headers={"Host": "evil.example"}).status_code == 400


def test_a_configured_public_name_is_served(harness: Harness) -> None:
    hosts = served_hosts("0.0.0.0", ("leadsync.example.com", "*.corp.example"), has_token=True)
    assert hosts is not None
    with TestClient(harness.app(token=TOKEN, allowed_hosts=hosts)) as client:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        for host in ("leadsync.example.com", "a.corp.example:443", "localhost"):
            assert client.get("/", headers={**bearer, "Host": host}).status_code == 200, host
        assert client.get("/", headers={**bearer, "Host": "evil.example"}).status_code == 400


def test_which_hosts_are_served() -> None:
    # Without a token: loopback names, the bound address, and the configured names only.
    assert served_hosts("127.0.0.1", (), has_token=False) == LOOPBACK_HOSTS
    assert served_hosts("127.0.0.5", ("dash.localhost",), has_token=False) == (
        *LOOPBACK_HOSTS,
        "127.0.0.5",
        "dash.localhost",
    )
    assert served_hosts("::1", (), has_token=False) == LOOPBACK_HOSTS
    # With a token and no list, any host: a rebinding page cannot carry the token, and the
    # session cookie is bound to the name the operator signed in on.
    assert served_hosts("0.0.0.0", (), has_token=True) is None
    assert served_hosts("10.0.0.7", ("lead.example",), has_token=True) == (
        *LOOPBACK_HOSTS,
        "10.0.0.7",
        "lead.example",
    )
    assert served_hosts("0.0.0.0", ("*",), has_token=True) is None


def test_the_config_feeds_the_host_check(tmp_path: Path) -> None:
    settings_ = settings_from_dict(
        {"service": {"host": "127.0.0.1", "allowed_hosts": ["Dash.Localhost"]}}, "mem.toml"
    )
    service = settings_.service
    hosts = served_hosts(service.host, service.allowed_hosts, service.access_token is not None)
    assert hosts == (*LOOPBACK_HOSTS, "dash.localhost")
