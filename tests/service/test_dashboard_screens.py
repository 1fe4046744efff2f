"""Issue 24 #8, in a real headless Chromium (see ``test_dashboard_browser``): a read-only
dashboard (no ``[service] access_token``) over a store that real cycles against both
sandboxes filled: owners by name, greyed-out actions that say why and how to turn them on,
and a month chart that starts where the store's data does.

``LEADSYNC_SCREENSHOTS=DIR`` keeps a PNG of each page checked there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import radians, sin
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
from leadsync.service.views import ReportInputs
from leadsync.store import Store
from leadsync.store.schema import handoffs
from leadsync.wiring import build_connectors, build_engine
from tests.service.helpers import free_port
from tests.service.test_dashboard_browser import CHROMIUM, REJECTION, _browser_or_skip


@dataclass
class Site:
    base: str
    store: Store
    #: The CRM's own names of its users, per connector (what routing decided with).
    names: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from served(tmp_path_factory.mktemp("screens"), leads=80, rejections=3)


def served(
    tmp: Path, *, leads: int, rejections: int = 0, history_days: float = 400.0
) -> Iterator[Site]:
    """Both sandboxes (``leads`` leads entering over ``history_days``), one full sync into a
    fresh store (the first ``rejections`` Lead writes refused), and the dashboard over it."""
    with running_sandboxes(leads=leads, seed=5, history_days=history_days) as world:
        settings = settings_from_dict(world.config_data(f"sqlite:///{tmp / 'ls.db'}"), "test")
        store = Store(settings.store.url)
        connectors = build_connectors(settings)
        if rejections:
            world.salesforce.api.faults.arm(
                {"kind": "reject", "count": rejections, "object": "Lead", "message": REJECTION}
            )
        build_engine(settings, store, connectors).run()
        names = {n: {u.id: u.name for u in c.users()} for n, c in connectors.items()}
        app = build_app(
            ServiceParts(
                store=store,
                connectors=list(connectors),
                interval=timedelta(minutes=5),
                cycles=CycleLog(started_at=datetime.now(UTC)),
                metrics=ServiceMetrics(connectors),
                usage=connectors,
                users=connectors,
                report=ReportInputs(settings.model_spec(), settings.identity.fit_source),
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
        try:
            yield Site(f"http://127.0.0.1:{port}", store, names)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            for connector in connectors.values():
                connector.close()
            store.close()


@pytest.fixture
def page(site: Site) -> Iterator[Any]:
    with chromium_page() as found:
        yield found


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A page of a headless Debian Chromium, 1280 x 900."""
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def shoot(page: Any, name: str, selector: str | None = None) -> None:
    """A PNG of the page (or of ``selector``'s element) in ``$LEADSYNC_SCREENSHOTS``."""
    folder = os.environ.get("LEADSYNC_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = str(Path(folder) / f"{name}.png")
        if selector is None:
            page.screenshot(path=path, full_page=True)
        else:
            page.locator(selector).screenshot(path=path)


@pytest.mark.slow
def test_hand_offs_show_owners_by_the_name_the_crm_gives_them(site: Site, page: Any) -> None:
    with site.store.reading() as conn:
        owned = conn.execute(
            sa.select(handoffs.c.source, handoffs.c.owner_id).where(
                handoffs.c.owner_id.is_not(None)
            )
        ).all()
    assert owned
    page.goto(f"{site.base}/handoffs")
    cells = page.locator("#handoffs td.owner")
    shown = [
        (cells.nth(i).inner_text(), cells.nth(i).get_attribute("title"))
        for i in range(cells.count())
    ]
    shoot(page, "handoffs-owner-names")
    expected = {site.names[source][owner] for source, owner in owned}
    assert {text for text, owner_id in shown if owner_id} == expected
    # the id is there for whoever needs it, in the tooltip, never as the cell's text
    assert all(text != owner_id for text, owner_id in shown if owner_id)


@pytest.mark.slow
def test_greyed_out_actions_say_why_and_how_to_turn_them_on(site: Site, page: Any) -> None:
    for path, button, action in (
        ("/rejected", "#retry-salesforce", "Retry"),
        ("/backfills", "#backfill-form button", "Queueing a backfill"),
    ):
        page.goto(f"{site.base}{path}")
        shoot(page, f"actions-off{path.replace('/', '-')}")
        assert page.locator(button).is_disabled()
        assert "needs [service] access_token" in page.get_attribute(button, "title")
        assert page.get_attribute(button, "aria-describedby") == "actions-off"
        why = page.locator("#actions-off")
        assert why.is_visible()
        text = why.inner_text()
        assert text.startswith(f"{action} is off: it needs [service] access_token.")
        assert "restart leadsync run, and sign in" in text


#: A chart's x-axis tick labels as drawn: text, centre and width, and the labels' rotation.
_TICKS = """(canvas) => {
  const chart = Chart.getChart(document.getElementById(canvas));
  const scale = chart.scales.x;
  const font = Chart.helpers.toFont(scale.options.ticks.font);
  const ctx = chart.ctx;
  ctx.save();
  ctx.font = font.string;
  const ticks = scale.ticks.map((tick, i) => ({
    label: String(tick.label),
    x: scale.getPixelForTick(i),
    width: ctx.measureText(String(tick.label)).width,
  })).filter((tick) => tick.label !== "");
  ctx.restore();
  return {labels: chart.data.labels, ticks: ticks, rotation: scale.labelRotation,
          lineHeight: font.lineHeight};
}"""


def overlapping(drawn: dict[str, Any]) -> list[tuple[str, str]]:
    """Neighbouring tick labels that overlap as Chart.js drew them: side by side when flat,
    closer than a line apart when turned."""
    turned = radians(drawn["rotation"])
    out = []
    for a, b in zip(drawn["ticks"], drawn["ticks"][1:], strict=False):
        gap = b["x"] - a["x"]
        if turned < 0.01:
            clash = gap < (a["width"] + b["width"]) / 2
        else:
            clash = gap * sin(turned) < drawn["lineHeight"]
        if clash:
            out.append((a["label"], b["label"]))
    return out


@pytest.mark.slow
def test_month_chart_starts_at_the_first_month_with_data(site: Site, page: Any) -> None:
    page.goto(f"{site.base}/report?months=12")
    page.wait_for_function("Number(document.body.dataset.charts) >= 1")
    page.wait_for_timeout(1500)  # Chart.js animates the first draw
    shoot(page, "report")
    shoot(page, "report-months-chart", "div.chart-months")
    shoot(page, "report-lift-chart", "#chart-lift-criteria")
    drawn = page.evaluate(_TICKS, "chart-months")
    entered = page.evaluate(
        """() => JSON.parse(document.getElementById("report-data").textContent).months"""
    )
    per_month = [
        sum(cell["entered"][i] for cell in entered["cells"]) for i in range(len(entered["labels"]))
    ]
    assert drawn["labels"] == entered["labels"]
    # No run of empty months before the data (months are CRM entry months: a generated org
    # created over the past year fills all twelve).
    assert per_month and per_month[0] > 0
    assert overlapping(drawn) == []
    for canvas in ("chart-lift-criteria", "chart-lift-rules", "chart-recycle"):
        assert overlapping(page.evaluate(_TICKS, canvas)) == [], canvas
    page.set_viewport_size({"width": 480, "height": 900})  # a phone: labels thin out
    page.wait_for_timeout(1500)
    for canvas in ("chart-months", "chart-lift-criteria", "chart-lift-rules", "chart-recycle"):
        assert overlapping(page.evaluate(_TICKS, canvas)) == [], canvas
    shoot(page, "report-lift-chart-narrow", "#chart-lift-criteria")


@pytest.fixture(scope="module")
def two_years(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from served(tmp_path_factory.mktemp("two-years"), leads=400, history_days=730)


@pytest.mark.slow
def test_a_first_backfill_of_two_years_fills_the_report_from_day_one(two_years: Site) -> None:
    """Issue 23 #1: the report's months are when leads entered the CRM, so the first sync of
    an org with two years of history shows two years at once, with conversion per month
    for the months whose sales cycle has ended."""
    with chromium_page() as page:
        page.goto(f"{two_years.base}/report?months=24")
        page.wait_for_function("Number(document.body.dataset.charts) >= 1")
        page.wait_for_timeout(1500)  # Chart.js animates the first draw
        shoot(page, "report-two-years-months", "div.chart-months")
        shoot(page, "report-two-years-lift", "#chart-lift-criteria")
        data = page.evaluate(
            """() => JSON.parse(document.getElementById("report-data").textContent)"""
        )
        drawn = page.evaluate(_TICKS, "chart-months")
    months = data["months"]
    per_month = [
        sum(c["entered"][i] for c in months["cells"]) for i in range(len(months["labels"]))
    ]
    assert len(months["labels"]) == 24 and drawn["labels"] == months["labels"]
    # Entries in the first months shown and in at least 20 of the 24: the backfill dated each
    # lead by its CRM creation, not by the day it was first scored.
    assert per_month[0] > 0 and sum(n > 0 for n in per_month) >= 20, per_month
    assert sum(per_month[:12]) > 0.1 * sum(per_month)
    # Leads a year or more old have their outcome told: conversion shows for those months.
    told = [m for m in months["conversion"][:12] if m.get("n")]
    assert len(told) >= 8, months["conversion"][:12]
    assert overlapping(drawn) == []
