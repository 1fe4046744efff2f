"""The dashboard in a real headless Chromium (Playwright with Debian's chromium), over a store
filled by real cycles against both sandboxes: sign in, every page, the retry button and the
backfill form.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the ``playwright`` package;
without them the tests skip, and ``.ci/run`` (``LEADSYNC_REQUIRE_BROWSER=1``) fails instead.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from leadsync.config import settings_from_dict
from leadsync.sandboxes import running_sandboxes
from leadsync.service.app import ServiceParts, build_app
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.state import CycleLog
from leadsync.store import Store
from leadsync.store.lookup import matrix_counts
from leadsync.store.schema import backfill_requests, handoffs, pending_writes, recycles
from leadsync.wiring import build_connectors, build_engine
from tests.service.helpers import free_port

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "browser-token-0123456789"
REJECTION = "Industry must be set before scoring enterprise leads"
#: The generated org refuses edits to one lead, as a real org's validation rule would.
LEGAL_HOLD = "This lead is under legal hold and cannot be edited."


def _browser_or_skip() -> Any:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install playwright)"
    if reason is None and not CHROMIUM.exists():
        reason = f"{CHROMIUM} missing (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("LEADSYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LEADSYNC_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


@dataclass
class Site:
    base: str
    store: Store
    triggered: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("dashboard")
    with running_sandboxes(leads=80, seed=5) as world:
        data = world.config_data(f"sqlite:///{tmp / 'leadsync.db'}")
        settings = settings_from_dict(data, "test")
        store = Store(settings.store.url)
        connectors = build_connectors(settings)
        engine = build_engine(settings, store, connectors)
        # Three Lead updates (the hand-offs' owner changes come first) refused with the CRM's
        # own words; retried only after back-off.
        world.salesforce.api.faults.arm(
            {"kind": "reject", "count": 3, "object": "Lead", "message": REJECTION}
        )
        engine.run()
        # Sales sends a handed-off Salesforce lead back: the next cycle recycles it.
        with store.reading() as conn:
            uid = conn.execute(
                sa.select(handoffs.c.record_uid)
                .where(handoffs.c.source == "salesforce", handoffs.c.state == "done")
                .order_by(handoffs.c.id)
                .limit(1)
            ).scalar_one()
        world.salesforce.org.update("Lead", uid.split(":")[-1], {"Status": "Recycled"})
        engine.run()

        site = Site(base="", store=store)

        def trigger(name: str) -> bool:
            site.triggered.append(name)
            return True

        app = build_app(
            ServiceParts(
                store=store,
                connectors=list(connectors),
                interval=timedelta(minutes=5),
                cycles=CycleLog(started_at=datetime.now(UTC)),
                metrics=ServiceMetrics(connectors),
                access_token=TOKEN,
                usage=connectors,
                trigger=trigger,
                matrix_teams={
                    f"{fit}/{ready}": team
                    for (fit, ready), team in settings.model_spec().matrix.items()
                },
            )
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "dashboard server did not start"
            time.sleep(0.05)
        site.base = f"http://127.0.0.1:{port}"
        try:
            yield site
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            for connector in connectors.values():
                connector.close()
            store.close()


@pytest.fixture
def page(site: Site) -> Iterator[Any]:
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{site.base}/")
            # Not signed in: the browser lands on the login form, then back where it asked.
            assert page.url.startswith(f"{site.base}/login?next=")
            page.fill("input[name=token]", "not-it")
            page.click("#login-form button")
            assert "That is not the token." in page.inner_text("#login-error")
            page.fill("input[name=token]", TOKEN)
            page.click("#login-form button")
            page.wait_for_url(f"{site.base}/")
            yield page
        finally:
            browser.close()


def _cells(page: Any) -> dict[str, int]:
    cells = page.locator("#matrix td[data-cell]")
    return {
        cells.nth(i).get_attribute("data-cell"): int(cells.nth(i).inner_text().split()[0])
        for i in range(cells.count())
    }


@pytest.mark.slow
def test_pages_show_the_matrix_budget_cycles_handoffs_and_recycles(site: Site, page: Any) -> None:
    with site.store.reading() as conn:
        expected = matrix_counts(conn)
    shown = _cells(page)
    assert {k: v for k, v in shown.items() if v} == expected
    assert sum(shown.values()) > 0
    assert "sales" in page.inner_text("td[data-cell='good/hand_raiser']")
    assert page.inner_text("#role") == "leader"
    sf_budget = page.locator("#budget tr[data-connector=salesforce] td").all_inner_texts()
    assert int(sf_budget[1]) > 0 and int(sf_budget[2]) > 0

    page.click("header >> text=Cycles")
    page.wait_for_url(f"{site.base}/cycles")
    rows = page.locator("table.cycles tr[data-run]")
    assert rows.count() == 2
    assert "rejected" in page.inner_text("table.cycles tr:first-child")

    page.click("header >> text=Hand-offs")
    page.wait_for_url(f"{site.base}/handoffs")
    assert page.locator("#handoffs tr").count() > 1
    with site.store.reading() as conn:
        stored = conn.execute(sa.select(recycles.c.reason, recycles.c.requalified_at)).all()
    recycled = page.locator("#recycles tr", has_text="sales set status 'Recycled'")
    assert recycled.count() == 1 and "not yet" in recycled.inner_text()
    assert page.locator("#recycles tr").count() == len(stored) + 1
    back = sum(1 for r in stored if r.requalified_at is not None)
    assert f"{back} of {len(stored)} shown came back to sales" in page.inner_text("main")


@pytest.mark.slow
def test_retry_button_puts_rejected_writes_back_in_line(site: Site, page: Any) -> None:
    page.click("header >> text=Rejected")
    page.wait_for_url(f"{site.base}/rejected")
    # Salesforce owner changes ride in the Lead's field write (engine.riders): the three
    # refusals land on writes or actions, whichever carried them.
    refused = page.locator("#rejected-writes tr, #rejected-actions tr", has_text=REJECTION)
    assert refused.count() == 3
    assert page.locator("#rejected-writes td.state-retrying").count() >= 1
    assert page.locator("#rejected-writes tr", has_text=LEGAL_HOLD).count() >= 1
    with site.store.reading() as conn:
        waiting = conn.execute(
            sa.select(sa.func.count()).where(
                pending_writes.c.attempts > 0, pending_writes.c.source == "salesforce"
            )
        ).scalar_one()
    assert waiting >= 1
    page.click("#retry-salesforce")
    page.wait_for_url(f"{site.base}/rejected?*")
    # Rejected writes go back in line at once; actions only once parked (replay_parked).
    assert f"salesforce: {waiting} write(s) and 0 action(s)" in page.inner_text("#flash")
    assert "a cycle is queued" in page.inner_text("#flash")
    assert site.triggered[-1] == "salesforce"
    with site.store.reading() as conn:
        rows = conn.execute(
            sa.select(pending_writes.c.attempts, pending_writes.c.state).where(
                pending_writes.c.source == "salesforce"
            )
        ).all()
    assert rows and all(r.attempts == 0 and r.state == "pending" for r in rows)
    assert "Nothing rejected." in page.inner_text("#rejected-writes")


@pytest.mark.slow
def test_backfill_form_queues_a_request_and_lists_it(site: Site, page: Any) -> None:
    page.click("header >> text=Backfills")
    page.wait_for_url(f"{site.base}/backfills")
    page.uncheck("input[name=connector][value=hubspot]")
    page.fill("input[name=since]", "2026-01-31")
    page.check("input[name=dry_run]")
    page.click("#backfill-form button")
    page.wait_for_url(f"{site.base}/backfills?*")
    assert "Queued backfill request" in page.inner_text("#flash")
    row = page.locator("#requests tr[data-request]").first
    assert "salesforce since 2026-01-31, dry run, no actions" in row.inner_text()
    assert "queued" in row.inner_text() and "dashboard" in row.inner_text()
    assert site.triggered[-1] == "backfills"
    # A bad date comes back on the form with the reason; nothing more is queued.
    page.fill("input[name=since]", "2026-02-30")
    page.evaluate("document.querySelector('input[name=since]').type = 'text'")
    page.fill("input[name=since]", "31/01/2026")
    page.click("#backfill-form button")
    assert "a date like 2026-01-31" in page.inner_text("#form-error")
    with site.store.reading() as conn:
        stored = conn.execute(sa.select(backfill_requests)).all()
    assert [(r.connectors, r.dry_run, r.no_actions, r.state) for r in stored] == [
        (["salesforce"], True, True, "queued")
    ]
    # Signed out, the form is gone and the pages ask to sign in again.
    page.click("header button")
    page.wait_for_url(f"{site.base}/login")
    page.goto(f"{site.base}/backfills")
    assert page.url.startswith(f"{site.base}/login?next=")
