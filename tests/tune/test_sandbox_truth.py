"""The sandbox world's hidden truth (``sandboxes.salesforce.generator_truth``), synced by the
demo into a store: the report sees good-fit hand-raisers converting best and an ICP that
predicts conversion, and ``tune`` recovers the hidden drivers' signs and order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadsync.cli.demo_cmds import conversion_text
from leadsync.config import load_settings
from leadsync.demo import DemoReport, run_demo
from leadsync.report import Dataset, leads_from_store, report_document
from leadsync.tune import suggest
from leadsync.wiring import open_store

HAND_RAISES = ("Contact Us", "Demo request")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return run_demo(leads=8000, seed=7, folder=tmp_path_factory.mktemp("truth") / "demo")


@pytest.fixture(scope="module")
def synced(demo: DemoReport) -> tuple[Dataset, datetime]:
    report = demo
    assert report.config is not None
    settings = load_settings(report.config)
    now = datetime.now(UTC)
    store = open_store(settings)
    try:
        with store.reading() as conn:
            ds = leads_from_store(
                conn, settings.model_spec(), fit_source="salesforce", cycle_days=90, now=now
            )
    finally:
        store.close()
    return ds, now


def _rate(ds: Dataset, good: bool, hand_raiser: bool) -> float:
    raising = [ds.rules.index(name) for name in HAND_RAISES]
    group = [
        lead
        for lead in ds.decided
        if ds.is_good_fit(lead) == good and any(lead.fired[i] for i in raising) == hand_raiser
    ]
    assert len(group) >= 5, (good, hand_raiser, len(group))
    return sum(bool(lead.converted) for lead in group) / len(group)


@pytest.mark.slow
def test_report_sees_good_fit_hand_raisers_converting_best(
    synced: tuple[Dataset, datetime],
) -> None:
    ds, now = synced
    rates = {(g, h): _rate(ds, g, h) for g in (True, False) for h in (True, False)}
    assert max(rates, key=lambda k: rates[k]) == (True, True), rates
    assert rates[(False, False)] == min(rates.values()), rates
    document = report_document(ds, now=now, months=12)
    assert document["fit"]["flag"] is None, document["fit"]
    rules = {row["name"]: row for row in document["rules"]}
    assert all(rules[name]["predicts"] for name in HAND_RAISES), rules


@pytest.mark.slow
def test_tune_recovers_the_hidden_drivers(synced: tuple[Dataset, datetime]) -> None:
    ds, now = synced
    found = suggest(ds, holdout_months=3, now=now)
    coef = dict(zip(ds.rules, found.fit.rule_coef[: len(ds.rules)], strict=True))
    # rules few leads fired (an unsubscribe: a dozen) have points set by chance; those no lead
    # fired keep theirs: no evidence, no change
    points = {
        name: found.points[i]
        for i, name in enumerate(ds.rules)
        if sum(lead.fired[i] > 0 for lead in ds.decided) >= 30
    }
    # signs: a hand-raise makes converting likelier
    assert all(coef[name] > 0 for name in HAND_RAISES), coef
    # order: a hand-raise gets the most points, and every hand-raise rule outweighs every
    # other rule. The lesser drivers (50 points per price sheet or webinar) are not ordered:
    # the report reads a converter's activities only until it converts and anyone else's for
    # the whole cycle, which pulls rules without a strong effect below zero.
    assert max(points, key=lambda n: points[n]) in HAND_RAISES, points
    others = [p for n, p in points.items() if n not in HAND_RAISES]
    assert min(points[n] for n in HAND_RAISES) > max(others), points
    boxes = dict(zip(ds.criteria, found.fit.box_coef, strict=True))
    assert boxes["Manufacturing"] > 0 and boxes["Decision maker"] > 0, boxes
    # Leads engage and convert in their first months, so the last 3 months of closed cohorts
    # hold both classes: a time hold-out, as dated history should get.
    assert found.split.description.startswith("hold-out: the last 3 months of entries")
    assert found.split.note == "", found.split.note
    assert found.suggested.auc is not None and found.suggested.auc > 0.55


@pytest.mark.slow
def test_demo_ends_with_conversion_per_cell(demo: DemoReport) -> None:
    cells = demo.conversion
    rates = {c: n["converted"] / n["leads"] for c, n in cells.items() if n["leads"] >= 5}
    assert max(rates, key=lambda c: rates[c]) == "good/hand_raiser", cells
    assert sum(n["leads"] for n in cells.values()) > 500
    line = conversion_text(cells)
    good = cells["good/hand_raiser"]
    assert f"good/hand-raiser {good['converted']} of {good['leads']} (" in line
    assert demo.to_dict()["conversion_per_cell"] == cells
