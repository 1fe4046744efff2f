"""Signing out ends the session on the server, and guessing the token is throttled.

Logout used to delete the cookie in the browser only: a copy of it (a shared machine, a
proxy log, a browser that ignored the delete) stayed valid for its twelve hours. Failed
sign-ins were not limited at all.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from leadsync.service.auth import COOKIE, LoginThrottle
from leadsync.store import Store
from tests.service.helpers import Harness, open_test_store, serving

TOKEN = "session-token-" + "5" * 32
HTML = {"Accept": "text/html"}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store: Store = open_test_store(tmp_path)
    yield Harness(store)
    store.close()


def _sign_in(client: TestClient) -> str:
    answer = client.post("/login", data={"token": TOKEN, "next": "/backfills"})
    assert answer.status_code == 303, answer.text
    page = client.get("/backfills", headers=HTML)
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_logout_ends_the_session_on_the_server(harness: Harness) -> None:
    app = harness.app(token=TOKEN)
    with (
        TestClient(app, follow_redirects=False) as client,
        TestClient(app, follow_redirects=False) as other,
    ):
        csrf = _sign_in(client)
        _sign_in(other)
        kept = client.cookies[COOKIE]
        assert client.post("/logout", data={"csrf": csrf}).status_code == 303
        # Someone kept a copy of the cookie: it no longer opens anything.
        client.cookies.set(COOKIE, kept)
        assert client.get("/handoffs", headers=HTML).status_code == 303  # to the login form
        assert client.get("/metrics").status_code == 401
        queued = client.post("/backfills", data={"connector": "salesforce", "csrf": csrf})
        assert queued.status_code == 401
        # Signing out one browser leaves the others signed in.
        assert other.get("/handoffs", headers=HTML).status_code == 200
        # Signing in again gives a new session that works.
        _sign_in(client)
        assert client.get("/handoffs", headers=HTML).status_code == 200


def test_failed_sign_ins_are_throttled_per_address(harness: Harness) -> None:
    with serving(harness.app(token=TOKEN)) as base:
        port = base.rsplit(":", 1)[1]
        # Two clients on two loopback addresses; both name the same served Host.
        guesser = httpx.Client(
            base_url=base, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        )
        operator = httpx.Client(
            base_url=base, transport=httpx.HTTPTransport(local_address="127.0.0.1")
        )
        with guesser, operator:
            headers = {"Host": f"127.0.0.1:{port}"}
            for n in range(5):
                wrong = guesser.post("/login", data={"token": f"guess-{n}"}, headers=headers)
                assert wrong.status_code == 401, n
            throttled = guesser.post("/login", data={"token": TOKEN}, headers=headers)
            assert throttled.status_code == 429
            assert 0 < int(throttled.headers["retry-after"]) <= 60
            assert "try again in" in throttled.text
            # The bearer header is a guess at the same token: throttled too.
            bearer = {**headers, "Authorization": f"Bearer {TOKEN}"}
            assert guesser.get("/metrics", headers=bearer).status_code == 429
            # Another address is not held up by the guesser.
            assert (
                operator.post("/login", data={"token": TOKEN}, headers=headers).status_code == 303
            )
            assert operator.get("/metrics", headers=bearer).status_code == 200


def test_wrong_bearer_tokens_count_as_failed_sign_ins(harness: Harness) -> None:
    with TestClient(harness.app(token=TOKEN)) as client:
        for n in range(5):
            wrong = {"Authorization": f"Bearer guess-{n}"}
            assert client.get("/metrics", headers=wrong).status_code == 401
        refused = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 429 and refused.headers["retry-after"]
        assert client.post("/login", data={"token": TOKEN}).status_code == 429
        # Probes and the webhook do not ask for the token: they are not throttled.
        assert client.get("/healthz").status_code == 200


attempts = st.lists(
    st.tuples(
        st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
        st.booleans(),  # the right token?
        st.floats(min_value=0, max_value=30, allow_nan=False),  # seconds since the last
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(attempts)
def test_at_most_five_failures_a_minute_are_weighed_per_address(
    sequence: list[tuple[str, bool, float]],
) -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    weighed: dict[str, deque[float]] = defaultdict(deque)  # failures the model counts
    for client, right, gap in sequence:
        now[0] += gap
        recent = weighed[client]
        while recent and recent[0] <= now[0] - 60:
            recent.popleft()
        wait = throttle.wait(client)
        if len(recent) >= 5:
            # Refused until the oldest of the five leaves the minute, and told how long.
            assert wait == pytest.approx(recent[0] + 60 - now[0])
            continue
        assert wait == 0
        if not right:
            throttle.failed(client)
            recent.append(now[0])


def test_the_throttle_forgets_old_addresses_within_its_bound() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0], max_clients=100)
    for n in range(1_000):
        now[0] += 0.01
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(throttle) <= 100
