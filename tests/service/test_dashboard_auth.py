"""Dashboard auth with an HTTP client: pages behind the token, actions always needing it,
the session cookie and the CSRF token, refusals."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from leadsync.service.auth import (
    COOKIE,
    SESSION_SECONDS,
    csrf_token,
    new_session,
    safe_next,
    session_nonce,
)
from leadsync.store import Store
from leadsync.store.schema import backfill_requests
from tests.service.helpers import Harness, open_test_store

TOKEN = "dashboard-token-0123456789"
HTML = {"Accept": "text/html,application/xhtml+xml"}
PAGES = ["/", "/cycles", "/rejected", "/handoffs", "/backfills", "/unreadable"]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store: Store = open_test_store(tmp_path)
    yield Harness(store)
    store.close()


def _requests(store: Store) -> list[sa.Row[tuple[object, ...]]]:
    with store.reading() as conn:
        return list(conn.execute(sa.select(backfill_requests)))


def _sign_in(client: TestClient) -> str:
    answer = client.post("/login", data={"token": TOKEN, "next": "/backfills"})
    assert answer.status_code == 303 and answer.headers["location"] == "/backfills"
    page = client.get("/backfills", headers=HTML)
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_without_a_token_pages_are_open_and_actions_refused(harness: Harness) -> None:
    with TestClient(harness.app()) as client:
        for page in PAGES:
            answer = client.get(page, headers=HTML)
            assert answer.status_code == 200, page
            assert answer.headers["content-security-policy"].endswith("base-uri 'none'")
        assert "Queueing a backfill is off" in client.get("/backfills").text
        queued = client.post("/backfills", data={"connector": "salesforce"})
        retried = client.post("/rejected/retry", data={"connector": "salesforce"})
        assert "actions are disabled" in client.get("/login").text
    assert (queued.status_code, retried.status_code) == (403, 403)
    assert "service.access_token" in queued.json()["error"]
    assert _requests(harness.store) == []


def test_with_a_token_pages_need_it_and_browsers_are_sent_to_sign_in(harness: Harness) -> None:
    with TestClient(harness.app(token=TOKEN), follow_redirects=False) as client:
        for page in PAGES:
            redirected = client.get(page, headers=HTML)
            assert redirected.status_code == 303, page
            assert redirected.headers["location"].startswith("/login?next=")
            assert client.get(page).status_code == 401
            bearer = client.get(page, headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer.status_code == 200
        assert client.get("/cycles?x=1", headers=HTML).headers["location"] == (
            "/login?next=/cycles%3Fx%3D1"
        )
        # The login form and its stylesheet are reachable; the probes stay public.
        assert client.get("/login").status_code == 200
        assert client.get("/static/dashboard.css").status_code == 200
        assert client.get("/healthz").status_code == 200


def test_wrong_tokens_and_forged_cookies_are_refused(harness: Harness) -> None:
    with TestClient(harness.app(token=TOKEN), follow_redirects=False) as client:
        wrong = client.post("/login", data={"token": "guess", "next": "/"})
        assert wrong.status_code == 401 and "not the token" in wrong.text
        assert COOKIE not in wrong.cookies
        forged = new_session("some-other-token")
        client.cookies.set(COOKIE, forged)
        assert client.get("/").status_code == 401
        client.cookies.set(COOKIE, "1.2.3")
        assert client.get("/").status_code == 401
        expired = new_session(TOKEN, now=time.time() - SESSION_SECONDS - 5)
        client.cookies.set(COOKIE, expired)
        assert client.get("/").status_code == 401


def test_signing_in_sets_a_strict_http_only_cookie_that_opens_the_pages(harness: Harness) -> None:
    with TestClient(harness.app(token=TOKEN), follow_redirects=False) as client:
        answer = client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert TOKEN not in cookie
        for page in PAGES:
            assert client.get(page, headers=HTML).status_code == 200, page


def test_actions_with_the_session_need_the_forms_csrf_token(harness: Harness) -> None:
    with TestClient(harness.app(token=TOKEN), follow_redirects=False) as client:
        csrf = _sign_in(client)
        form = {"connector": "salesforce", "no_actions": "on"}
        missing = client.post("/backfills", data=form)
        wrong = client.post("/backfills", data={**form, "csrf": "0" * 64})
        other_site = client.post(
            "/backfills", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
        retry = client.post("/rejected/retry", data={"connector": "hubspot"})
        assert [r.status_code for r in (missing, wrong, other_site, retry)] == [403] * 4
        assert _requests(harness.store) == []
        ok = client.post(
            "/backfills", data={**form, "csrf": csrf}, headers={"Origin": "http://testserver"}
        )
        assert ok.status_code == 303
        assert "Queued+backfill+request+1" in ok.headers["location"]
        retried = client.post("/rejected/retry", data={"connector": "hubspot", "csrf": csrf})
        assert retried.status_code == 303 and retried.headers["location"].startswith("/rejected")
        assert harness.triggered_jobs == ["backfills", "hubspot"]
        out = client.post("/logout", data={"csrf": csrf})
        assert out.status_code == 303 and 'leadsync_session=""' in out.headers["set-cookie"]
    (request,) = _requests(harness.store)
    assert (request.connectors, request.no_actions, request.requested_by) == (
        ["salesforce"],
        True,
        "dashboard",
    )


def test_actions_with_the_bearer_header_need_no_csrf_token(harness: Harness) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(harness.app(token=TOKEN), follow_redirects=False) as client:
        ok = client.post(
            "/backfills",
            data={"connector": ["salesforce", "hubspot"], "since": "2026-01-31", "dry_run": "on"},
            headers=bearer,
        )
        bad_date = client.post("/backfills", data={"since": "31/01/2026"}, headers=bearer)
        bad_connector = client.post("/backfills", data={"connector": "marketo"}, headers=bearer)
        anonymous = client.post("/backfills", data={"connector": "salesforce"})
    assert ok.status_code == 303
    assert bad_date.status_code == 400 and "a date like 2026-01-31" in bad_date.text
    assert bad_connector.status_code == 400 and "no connector named marketo" in bad_connector.text
    assert anonymous.status_code == 401
    (request,) = _requests(harness.store)
    # Every connector ticked is stored as "every connector".
    assert (request.connectors, request.dry_run, request.since.day) == ([], True, 31)


def test_session_and_csrf_values_are_bound_to_the_token() -> None:
    value = new_session(TOKEN)
    nonce = session_nonce(TOKEN, value)
    assert nonce is not None and session_nonce("rotated-token", value) is None
    assert csrf_token(TOKEN, nonce) != csrf_token("rotated-token", nonce)
    assert csrf_token(TOKEN, nonce) != csrf_token(TOKEN, "another-session")
    assert session_nonce(TOKEN, value, now=time.time() + SESSION_SECONDS + 1) is None
    assert [safe_next(t) for t in ("/cycles", "//x.org", "https://x.org", "/\\x", None)] == [
        "/cycles",
        "/",
        "/",
        "/",
        "/",
    ]
