"""The dashboard's report page (``/report``): ``leadsync report``'s document as tables and
Chart.js charts, over an empty store and over the report tests' generated history (known
conversion drivers, hand-offs and recycles); with an HTTP client, then in real headless
Chromium (see ``test_dashboard_browser`` for what the browser tests need)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient

from leadsync.report import report_document
from leadsync.service.app import ServiceParts, build_app
from leadsync.service.auth import COOKIE, new_session
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.state import CycleLog
from leadsync.service.views import ReportInputs
from leadsync.store import Store
from tests.report.history import GOOD, NOW, build_store, dataset, settings
from tests.service.helpers import TEST_HOSTS, free_port
from tests.service.test_dashboard_browser import CHROMIUM, _browser_or_skip

TOKEN = "report-token-0123456789"
HTML = {"Accept": "text/html,application/xhtml+xml"}
#: The generated history spans two years before NOW.
MONTHS = 24


def _app(store: Store, url: str, token: str | None = None, report: bool = True) -> Any:
    inputs = ReportInputs(settings(GOOD, url).model_spec(), fit_source=None)
    return build_app(
        ServiceParts(
            store=store,
            connectors=["salesforce", "hubspot"],
            interval=timedelta(minutes=5),
            cycles=CycleLog(started_at=NOW),
            metrics=ServiceMetrics({}),
            access_token=token,
            clock=lambda: NOW,
            report=inputs if report else None,
            allowed_hosts=TEST_HOSTS,
        )
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str]]:
    url = build_store(tmp_path_factory.mktemp("report-page"))
    store = Store(url)
    yield store, url
    store.close()


@pytest.fixture(scope="module")
def expected(history: tuple[Store, str]) -> dict[str, Any]:
    """The document ``leadsync report --months 24`` makes of the same store at the same time."""
    store, url = history
    with store.reading() as conn:
        return report_document(dataset(url, GOOD), now=NOW, months=MONTHS, conn=conn)


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = Store(url)
    yield store, url
    store.close()


def _charts(html: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert found, html
    return json.loads(found.group(1))


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script[^>]*>", html)


def test_report_page_over_an_empty_store(empty: tuple[Store, str]) -> None:
    with TestClient(_app(*empty)) as client:
        answer = client.get("/report", headers=HTML)
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    html = answer.text
    # Only this site's static scripts and the JSON data block: nothing inline runs.
    assert _scripts(html) == [
        '<script src="/static/chart.umd.min.js" defer>',
        '<script src="/static/report.js" defer>',
        '<script type="application/json" id="report-data">',
    ]
    assert '<a href="/report" class="here">Report</a>' in html
    assert "0 leads entered, 0 decided (0 converted)" in html
    for empty_note in ("months-empty", "lift-criteria-empty", "lift-rules-empty", "recycle-empty"):
        assert f'id="{empty_note}"' in html
    assert "<canvas" not in html
    assert "Nobody recycled in this period." in html
    charts = _charts(html)
    assert charts["months"]["labels"] == [] and charts["months"]["cells"] == []
    assert charts["recycle"] == {
        "handed_off": 0,
        "recycled": 0,
        "by_reason": [],
        "requalified": 0,
        "converted": 0,
    }


def test_report_page_shows_the_report_document(
    history: tuple[Store, str], expected: dict[str, Any]
) -> None:
    with TestClient(_app(*history)) as client:
        answer = client.get(f"/report?months={MONTHS}", headers=HTML)
        default = client.get("/report", headers=HTML)
        refused = client.get("/report?months=99", headers=HTML)
    assert answer.status_code == 200
    html = answer.text
    charts = _charts(html)
    leads = expected["leads"]
    assert f"{leads['total']} leads entered, {leads['decided']} decided" in html

    # (1) Per month and cell, the document's entries; per month, the share over all cells.
    months = charts["months"]
    # From the first month anyone entered (the period starts 2023-07), none empty before it.
    first = min(r["month"] for r in expected["matrix_by_month"] if r["entered"])
    assert months["labels"][0] == first and months["labels"][-1] == "2025-06"
    plotted = {
        (month, cell["cell"]): n
        for cell in months["cells"]
        for month, n in zip(months["labels"], cell["entered"], strict=True)
        if n
    }
    assert plotted == {(r["month"], r["cell"]): r["entered"] for r in expected["matrix_by_month"]}
    assert next(c["cell"] for c in months["cells"]).startswith("good/")
    busiest = max(months["conversion"], key=lambda c: c["n"])
    assert busiest["n"] == sum(
        r["entered"] for r in expected["matrix_by_month"] if r["month"] == busiest["month"]
    )
    assert 0 <= busiest["low"] <= busiest["rate"] <= busiest["high"] <= 1
    assert f'<th scope="row">{busiest["month"]}</th><td class="num">{busiest["n"]}</td>' in html

    # (2) Lift per criterion (led by good fit against poor) and per rule, with the flags.
    criteria = {row["label"]: row for row in charts["lift"]["criteria"]}
    assert next(iter(criteria)) == "good fit against poor fit"
    for row in expected["criteria"]:
        shown = criteria[row["name"]]
        assert (shown["ratio"], shown["low"], shown["high"]) == (
            row["lift"]["ratio"],
            row["lift"]["low"],
            row["lift"]["high"],
        )
        assert shown["flag"] == row["flag"]
        assert (shown["with_n"], shown["without_n"]) == (row["with"]["n"], row["without"]["n"])
    assert criteria["Manufacturing"]["flag"] is None
    assert criteria["UK or France"]["flag"] == "revisit your ICP"
    uk = re.search(r'<tr data-name="UK or France">.*?</tr>', html, re.S)
    assert uk and '<td class="flag">revisit your ICP</td>' in uk.group(0)
    rules = {row["label"]: row for row in charts["lift"]["rules"]}
    assert set(rules) == {row["name"] for row in expected["rules"]}
    silent = [row for row in expected["rules"] if row["fires"] == 0]
    assert silent and all(rules[r["name"]]["ratio"] is None for r in silent)
    assert all(rules[r["name"]]["flag"] == "too few leads to tell" for r in silent), (
        "a rule that never fired is too few to tell, not a verdict"
    )

    # (3) The recycle flow, by reason.
    flow = expected["recycle_flow"]
    assert flow["recycled"] > 0 and flow["by_reason"]
    assert charts["recycle"] == {
        "handed_off": flow["handed_off"],
        "recycled": flow["recycled"],
        "by_reason": [
            {"reason": r["reason"], "recycled": r["recycled"]} for r in flow["by_reason"]
        ],
        "requalified": flow["requalified"],
        "converted": flow["converted_after_recycle"],
    }
    assert (
        f"{flow['handed_off']} handed off &rarr; {flow['recycled']} recycled &rarr; "
        f"{flow['requalified']} re-qualified" in html
    )
    for canvas in ("chart-months", "chart-lift-criteria", "chart-lift-rules", "chart-recycle"):
        assert f'<canvas id="{canvas}"' in html
    # The other sections are there as tables.
    for table in ("poor-fit-source", "poor-fit-campaign", "hand-raisers-table", "recycle-table"):
        assert f'id="{table}"' in html
    assert "hand raiser" in html

    assert default.status_code == 200 and len(_charts(default.text)["months"]["labels"]) == 12
    assert refused.status_code == 400
    assert "months must be a whole number from 1 to 36, not &#39;99&#39;" in refused.text
    assert 'id="report-data"' not in refused.text


def test_report_page_names_a_box_value_no_record_holds(history: tuple[Store, str]) -> None:
    """What ``leadsync report`` lists under "the config against the data" is on the page too,
    escaped as text (a value may hold markup)."""
    import copy

    store, url = history
    config = copy.deepcopy(GOOD)
    config["icp"]["criteria"][0]["values"] = ["<b>Manufacturng</b>"]
    inputs = ReportInputs(settings(config, url).model_spec(), fit_source=None)
    app = build_app(
        ServiceParts(
            store=store, connectors=["salesforce"], interval=timedelta(minutes=5),
            cycles=CycleLog(started_at=NOW), metrics=ServiceMetrics({}), access_token=None,
            clock=lambda: NOW, report=inputs, allowed_hosts=TEST_HOSTS,
        )
    )  # fmt: skip
    with TestClient(app) as client:
        html = client.get(f"/report?months={MONTHS}", headers=HTML).text
    assert 'id="config-against-data"' in html
    shown = "box &#39;Manufacturing&#39;: &#39;&lt;b&gt;Manufacturng&lt;/b&gt;&#39; matches no"
    assert shown in html
    with TestClient(_app(*history)) as client:
        assert 'id="config-against-data"' not in client.get("/report", headers=HTML).text


def test_report_page_without_the_model_config_says_so(empty: tuple[Store, str]) -> None:
    with TestClient(_app(*empty, report=False)) as client:
        answer = client.get("/report", headers=HTML)
    assert answer.status_code == 200
    assert "started without the model config" in answer.text
    assert 'id="report-data"' not in answer.text


def test_report_page_needs_the_token_like_every_page(empty: tuple[Store, str]) -> None:
    with TestClient(_app(*empty, token=TOKEN), follow_redirects=False) as client:
        redirected = client.get("/report?months=3", headers=HTML)
        assert redirected.status_code == 303
        assert redirected.headers["location"] == "/login?next=/report%3Fmonths%3D3"
        assert client.get("/report").status_code == 401
        wrong = client.get("/report", headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        bearer = client.get("/report", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200 and 'id="report-data"' in bearer.text
        stale = new_session(TOKEN, now=time.time() - 13 * 3600)
        client.cookies.set(COOKIE, stale)
        assert client.get("/report", headers=HTML).status_code == 303
        client.cookies.set(COOKIE, new_session(TOKEN))
        signed_in = client.get("/report", headers=HTML)
        assert signed_in.status_code == 200 and "Sign out" in signed_in.text
        client.cookies.clear()
        # The scripts are static files, open like the stylesheet (they hold no data).
        chart = client.get("/static/chart.umd.min.js")
        assert chart.status_code == 200 and "javascript" in chart.headers["content-type"]
        assert chart.text.startswith("/*!\n * Chart.js v4.")
        assert "Released under the MIT License" in chart.text[:200]
        script = client.get("/static/report.js")
        assert script.status_code == 200 and "report-data" in script.text
        license_text = client.get("/static/chart.js.LICENSE.md")
        assert license_text.status_code == 200 and "MIT" in license_text.text


# -- in a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(history: tuple[Store, str]) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            _app(*history, token=TOKEN), host="127.0.0.1", port=port, log_config=None,
            lifespan="off",
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "dashboard server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


#: Per canvas: its chart's type, dataset labels and tick labels, and the canvas's drawn size.
_READ_CHARTS = """() => Array.from(document.querySelectorAll("canvas")).map((canvas) => {
  const chart = Chart.getChart(canvas);
  return {
    id: canvas.id,
    width: canvas.width,
    height: canvas.height,
    type: chart ? chart.config.type : null,
    datasets: chart ? chart.data.datasets.map((d) => d.label) : [],
    labels: chart ? chart.data.labels : [],
    points: chart ? chart.data.datasets.map((d) => d.data) : [],
    scale: chart ? chart.scales.x.type : null,
  };
})"""


def _note(message: Any, problems: list[str]) -> None:
    """Errors and warnings on the console (CSP violations land here), but not the browser's
    own favicon request, which no page of the dashboard serves."""
    if message.type in ("error", "warning") and not message.location.get("url", "").endswith(
        "/favicon.ico"
    ):
        problems.append(f"{message.text} at {message.location.get('url')}")


@pytest.mark.slow
def test_report_page_draws_its_charts_in_chromium(site: str, expected: dict[str, Any]) -> None:
    sync_playwright = _browser_or_skip()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda message: _note(message, problems))
            page.goto(f"{site}/report?months={MONTHS}")
            assert page.url.startswith(f"{site}/login?next=")
            page.fill("input[name=token]", TOKEN)
            page.click("#login-form button")
            page.wait_for_url(f"{site}/report?months={MONTHS}")
            page.wait_for_function("document.body.dataset.charts === '4'")
            charts = {c["id"]: c for c in page.evaluate(_READ_CHARTS)}
            assert page.evaluate("typeof Chart.version") == "string"

            # Switching the period through the form draws them again.
            page.fill("input[name=months]", "6")
            page.click("#report-form button")
            page.wait_for_url(f"{site}/report?months=6")
            page.wait_for_function("document.body.dataset.charts === '4'")
            six = page.evaluate(_READ_CHARTS)
        finally:
            browser.close()
    assert problems == []  # no script error and no Content-Security-Policy violation
    assert set(charts) == {
        "chart-months",
        "chart-lift-criteria",
        "chart-lift-rules",
        "chart-recycle",
    }
    for chart in charts.values():
        assert chart["width"] > 100 and chart["height"] > 100, chart

    months = charts["chart-months"]
    cells = sorted({row["cell"] for row in expected["matrix_by_month"]})
    assert sorted(months["datasets"][: len(cells)]) == cells
    assert months["datasets"][len(cells) :] == [
        "converted (share)",
        "95% interval, low",
        "95% interval",
    ]
    first = min(r["month"] for r in expected["matrix_by_month"] if r["entered"])
    assert months["labels"][0] == first and len(months["labels"]) <= MONTHS

    criteria = charts["chart-lift-criteria"]
    assert criteria["type"] == "bar" and criteria["scale"] == "logarithmic"
    assert criteria["datasets"] == [
        "95% interval: predicts conversion",
        "95% interval: revisit your ICP",
        "lift",
    ]
    ticks = {label[0] if isinstance(label, list) else label: label for label in criteria["labels"]}
    uk = next(v for k, v in ticks.items() if k.startswith("UK or France"))
    assert uk[1] == "revisit your ICP"
    manufacturing = next(v for k, v in ticks.items() if k.startswith("Manufacturing"))
    assert isinstance(manufacturing, str)
    index = list(ticks).index(next(k for k in ticks if k.startswith("UK or France")))
    row = next(r for r in expected["criteria"] if r["name"] == "UK or France")
    predicts, revisit, points = criteria["points"]
    assert predicts[index] is None
    assert revisit[index] == pytest.approx([row["lift"]["low"], row["lift"]["high"]])
    assert points[index] == pytest.approx(row["lift"]["ratio"])

    rules = charts["chart-lift-rules"]
    fired = [r for r in expected["rules"] if r["lift"]["ratio"] is not None]
    assert len(rules["labels"]) == len(fired)

    recycle = charts["chart-recycle"]
    flow = expected["recycle_flow"]
    assert recycle["labels"] == [
        "handed off",
        "recycled",
        "re-qualified",
        "converted after recycle",
    ]
    assert recycle["datasets"] == ["people"] + [r["reason"] for r in flow["by_reason"]]
    assert recycle["points"][0] == [
        flow["handed_off"],
        None,
        flow["requalified"],
        flow["converted_after_recycle"],
    ]
    assert [len(c["labels"]) for c in six if c["id"] == "chart-months"] == [6]
