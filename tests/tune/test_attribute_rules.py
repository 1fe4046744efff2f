"""Attribute rules in an export: a B2C campaign export where a balance over 1,000 and how the
lead came in (a categorical column) drive conversion. Each value of the column and the balance
carry points through attribute rules; ``tune`` fits them from the rows, and its suggestion is
a config that loads."""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leadsync.config import settings_from_dict
from leadsync.errors import ConfigError, LeadSyncError
from leadsync.model.reading import norm
from leadsync.report import leads_from_csv
from leadsync.tune import evaluate, split_history, suggest
from leadsync.tune.diff import Proposal, snippet, suggested_text
from leadsync.tune.fitting import current_checklist

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ORIGINS = {"Lead Add Form": 1.6, "Landing Page": 0.3, "API": -0.6, "Import": 0.0}

RULES: list[dict[str, Any]] = [
    {"name": "Demo request", "kind": "form_submission", "name_pattern": "demo", "points": 10,
     "interest": "hand_raiser"},
    {"name": "Balance over 1,000", "attribute": "balance", "operator": "at_least", "min": 1000,
     "points": 10},
    *[
        {"name": f"Origin: {origin}", "attribute": "lead_origin", "operator": "one_of",
         "values": [origin], "points": 10}
        for origin in ORIGINS
    ],
]  # fmt: skip

MAPPING = """
converted = "Converted"
blanks = ["Select..."]

[attributes]
balance = "Balance"
lead_origin = "Lead Origin"
industry = "Industry"

[activity_counts]
"Demo request" = "Demo Requests"
"""


def _config(rules: list[dict[str, Any]] = RULES) -> dict[str, Any]:
    return {
        "icp": {
            "good_fit_min": 1,
            "criteria": [
                {"name": "Retail", "attribute": "industry", "operator": "one_of",
                 "values": ["Retail"]},
            ],
        },
        "engagement": {"sales_ready_threshold": 30, "rules": rules},
    }  # fmt: skip


def _export(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Balance", "Lead Origin", "Industry", "Demo Requests", "Converted"])
        for _ in range(n):
            balance = rng.choice([rng.randint(-500, 999), rng.randint(1000, 90_000)])
            origin = rng.choice([*ORIGINS, "Select..."])
            industry = rng.choice(["Retail", "Finance"])
            demos = rng.choice([0, 0, 0, 1, 2])
            logit = -1.6 + 1.2 * (balance >= 1000) + ORIGINS.get(origin, 0.0) + 0.5 * demos
            converted = rng.random() < 1 / (1 + math.exp(-logit))
            cells = [f"{balance:,}", origin, industry, demos, "Yes" if converted else "No"]
            out.writerow(cells)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("b2c")
    data, mapping = folder / "campaign.csv", folder / "campaign.toml"
    _export(data, 4000, seed=11)
    mapping.write_text(MAPPING)
    return data, mapping


def test_each_row_fires_the_attribute_rules_its_data_passes(export: tuple[Path, Path]) -> None:
    data, mapping = export
    spec = settings_from_dict(_config(), "leadsync.toml").model_spec()
    ds = leads_from_csv(data, mapping, spec, NOW)
    rows = list(csv.DictReader(data.open(encoding="utf-8")))
    balance, api = ds.rules.index("Balance over 1,000"), ds.rules.index("Origin: API")
    for lead, row in zip(ds.leads, rows, strict=True):
        rich = int(row["Balance"].replace(",", "")) >= 1000
        assert lead.fired[balance] == int(rich) and lead.exposure[balance] == float(rich)
        assert lead.fired[api] == int(row["Lead Origin"] == "API")


def test_tune_fits_points_for_each_value_and_for_the_balance(export: tuple[Path, Path]) -> None:
    """The hidden drivers' order comes back (Lead Add Form > balance > Landing Page > Import >
    API, API below zero), and the suggestion ranks the hold-out about as well as a plain
    logistic regression on the same columns."""
    data, mapping = export
    spec = settings_from_dict(_config(), "leadsync.toml").model_spec()
    ds = leads_from_csv(data, mapping, spec, NOW)
    found = suggest(ds, holdout_months=3, now=NOW)
    points = dict(zip(ds.rules, found.points, strict=True))
    assert (
        points["Origin: Lead Add Form"]
        > points["Balance over 1,000"]
        > points["Origin: Landing Page"]
        > points["Origin: API"]
    ), points
    assert points["Origin: API"] < 0 < points["Balance over 1,000"], points
    assert found.logistic_auc is not None and found.suggested.auc is not None
    assert found.suggested.auc >= 0.95 * found.logistic_auc, (found.suggested, found.logistic_auc)
    # the starting config (10 points each, API included) ranks worse than the suggestion
    assert found.current.auc is not None and found.suggested.auc > found.current.auc + 0.02

    # the suggestion is a config to review: the rules as entries that load again
    text = snippet(spec, Proposal(found.points, found.checklist), ["review"], "")
    entries = tomlkit.parse(text)["engagement"]["rules"]  # type: ignore[index]
    api = next(e for e in entries if e["name"] == "Origin: API")
    assert api["attribute"] == "lead_origin" and api["operator"] == "one_of"
    assert api["values"] == ["API"] and api["points"] == points["Origin: API"]
    assert "interest" not in api and "kind" not in api
    reloaded = settings_from_dict(
        {**_config(), "engagement": {"rules": tomlkit.parse(text)["engagement"]["rules"]}},
        "suggested.toml",
    ).model_spec()
    assert [r.points for r in reloaded.rules] == list(found.points)


def test_an_attribute_rule_mapped_as_a_count_is_a_map_error_and_a_value_no_row_holds_is_said(
    export: tuple[Path, Path], tmp_path: Path
) -> None:
    data, _ = export
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(MAPPING + '"Origin: API" = "Demo Requests"\n')
    spec = settings_from_dict(_config(), "leadsync.toml").model_spec()
    with pytest.raises(ConfigError) as info:
        leads_from_csv(data, wrong, spec, NOW)
    assert info.value.problems == [
        f"{wrong}: activity_counts: 'Origin: API' is an attribute rule: it scores the "
        "[attributes] column its test reads; remove it here"
    ]
    typo = [*RULES[:2], {**RULES[2], "values": ["Lead Add Forms"]}, {"name": "Age over 60",
            "attribute": "age", "operator": "at_least", "min": 60, "points": 5}]  # fmt: skip
    ds = leads_from_csv(data, export[1], settings_from_dict(_config(typo), "x").model_spec(), NOW)
    assert (
        "rule 'Origin: Lead Add Form': 'Lead Add Forms' matches no row of column 'Lead Origin' "
        "(the data has 'lead add form')" in ds.quality.notes
    ), ds.quality.notes
    assert (
        "rule 'Age over 60' tests 'age', which [attributes] maps to no column: it gives nobody "
        "points here" in ds.quality.notes
    ), ds.quality.notes


def test_tune_adds_per_value_points_for_a_column_the_config_does_not_score(
    export: tuple[Path, Path],
) -> None:
    """From a naive config without origin rules, the suggestion adds them: Lead Add Form up,
    API down, each with its evidence, fitted with the other rules in one regression; with them
    the hold-out ranks as well as the regression itself, and clearly better than without. A
    column with no effect (industry) and the placeholder "Select..." get nothing. The
    suggested config file, loaded again, ranks the hold-out exactly as said. With the origin
    rules configured, nothing is added for that column: the config already speaks of it."""
    data, mapping = export
    naive = _config(RULES[:2])
    spec = settings_from_dict(naive, "leadsync.toml").model_spec()
    found = suggest(leads_from_csv(data, mapping, spec, NOW), holdout_months=3, now=NOW)
    assert [v.attribute for v in found.value_points] == ["lead_origin"]
    by_value = {rule.value: rule for rule in found.value_points[0].rules}
    assert by_value["Lead Add Form"].points > 0 > by_value["API"].points, by_value
    assert by_value["Lead Add Form"].lift_low > 1 and by_value["API"].lift_high < 1
    assert "Select..." not in by_value
    assert found.without_values is not None and found.without_values.auc is not None
    assert found.suggested.auc is not None and found.logistic_auc is not None
    assert found.suggested.auc > found.without_values.auc + 0.03, found
    assert found.suggested.auc >= 0.95 * found.logistic_auc, (found.suggested, found.logistic_auc)

    # the suggested config file loads, and ranks the same hold-out exactly as measured
    text = suggested_text(tomlkit.dumps(naive), spec, found.proposal())
    wider = settings_from_dict(tomlkit.parse(text).unwrap(), "suggested.toml").model_spec()
    assert [r.name for r in wider.rules][2:] == [r.name for r in found.value_points[0].rules]
    ds = leads_from_csv(data, mapping, wider, NOW)
    test = split_history(ds, 3, now=NOW).test  # the same seeded hold-out
    measured = evaluate(ds, test, ds.points, current_checklist(ds)).auc
    assert measured == pytest.approx(found.suggested.auc, abs=1e-9)

    configured = settings_from_dict(_config(), "leadsync.toml").model_spec()
    kept = suggest(leads_from_csv(data, mapping, configured, NOW), holdout_months=3, now=NOW)
    assert kept.value_points == () and kept.without_values is None


def test_the_review_file_carries_the_added_rules_and_says_what_they_do(
    export: tuple[Path, Path], tmp_path: Path
) -> None:
    from tests.tune.test_csv_cli import _cli

    data, mapping = export
    config = tmp_path / "leadsync.toml"
    config.write_text(tomlkit.dumps(_config(RULES[:2])))
    config.chmod(0o600)
    out = tmp_path / "review.toml"
    code, err = _cli(["--config", str(config), "tune", "--csv", str(data), "--csv-map",
                      str(mapping), "--out", str(out)])  # fmt: skip
    assert code == 0, err
    text = out.read_text()
    assert "per-value rules added for lead_origin (hold-out AUC " in text
    parsed = tomlkit.parse(text)
    rules = parsed["engagement"]["rules"]  # type: ignore[index]
    assert [r["name"] for r in rules][:2] == ["Demo request", "Balance over 1,000"]
    added = {r["name"]: r for r in rules[2:]}
    assert added["lead_origin: Lead Add Form"]["values"] == ["Lead Add Form"]
    assert added["lead_origin: Lead Add Form"]["operator"] == "one_of"


def test_an_added_value_with_quotes_or_a_line_break_reads_back_whole() -> None:
    """A CRM value may hold quotes, a backslash or a line break: the suggested config escapes
    it, so the file loads and the rule tests the value as the data spells it."""
    from leadsync.report.stats import share
    from leadsync.tune.checklist import Checklist
    from leadsync.tune.value_points import ValueRule

    odd = 'Lead "Add"\nForm \\ x'
    rule = ValueRule("lead_origin", odd, share(30, 60), share(10, 60), 3.0, 1.8, 5.0, points=15)
    naive = _config(RULES[:2])
    spec = settings_from_dict(naive, "leadsync.toml").model_spec()
    proposal = Proposal((12, 20), Checklist((True,), (False,), 1), None, (rule,))
    for text in (
        snippet(spec, proposal, ["review"], tomlkit.dumps(naive)),
        suggested_text(tomlkit.dumps(naive), spec, proposal),
    ):
        loaded = settings_from_dict(tomlkit.parse(text).unwrap(), "x").model_spec()
        assert [r.points for r in loaded.rules] == [12, 20, 15]
        test = loaded.rules[2].attribute_test
        assert test is not None and test.definition.values == (odd,)


def _screen(args: list[str]) -> tuple[int, str]:
    """``leadsync`` run in this process: its exit code and what it printed."""
    import contextlib
    import io
    import sys
    from unittest.mock import patch

    from leadsync.cli import main

    out = io.StringIO()
    with (
        patch.object(sys, "argv", ["leadsync", *args]),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue()


def test_the_screen_names_the_config_tables_and_never_offers_one_value_twice(
    export: tuple[Path, Path], tmp_path: Path
) -> None:
    """A table title naming ``[[icp.criteria]]`` printed as written (rich read it as markup
    and printed "[]"); a value the suggestion gives per-value points is not also offered as a
    candidate box (it would count twice, in fit and in score)."""
    data, mapping = export
    config = tmp_path / "leadsync.toml"
    config.write_text(tomlkit.dumps(_config()))  # origin rules configured: no value points
    config.chmod(0o600)
    args = ["--config", str(config), "tune", "--csv", str(data), "--csv-map", str(mapping)]
    code, screen = _screen(args)
    assert code == 0, screen
    assert "add one as an [[icp.criteria]] entry" in " ".join(screen.split()), screen

    naive = tmp_path / "naive.toml"
    naive.write_text(tomlkit.dumps(_config(RULES[:2])))
    naive.chmod(0o600)
    spec = settings_from_dict(_config(RULES[:2]), "leadsync.toml").model_spec()
    found = suggest(leads_from_csv(data, mapping, spec, NOW), holdout_months=3, now=NOW)
    scored = {(r.attribute, r.value) for v in found.value_points for r in v.rules}
    assert ("lead_origin", "Lead Add Form") in scored
    assert not {(c.attribute, c.value) for c in found.candidates} & scored


#: A value as a CRM may spell it; ";" aside (it separates a multi-select's values).
_SPELLING = st.text(min_size=1, max_size=70).filter(
    lambda v: v.strip() == v and bool(norm(v)) and ";" not in v
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(["x" * 50 + " North", "x" * 50 + " South", "other", "OTHER + more"], 3)
@given(
    st.lists(_SPELLING, min_size=3, max_size=5, unique_by=norm),
    st.integers(0, 10_000),
)
def test_any_spelling_a_crm_holds_comes_back_as_a_rule_that_loads(
    spellings: list[str], seed: int
) -> None:
    """Whatever a CRM's values are spelled with (quotes, brackets, control characters, any
    script, 60+ characters, alike in their first 60), the per-value rules the suggestion adds
    load again as a config, each testing the value exactly as the data spells it, with no two
    rules of one name."""
    from leadsync.report.dataset import Dataset, Lead

    rng = random.Random(seed)
    lift = {spellings[0]: 1.8, spellings[1]: -1.5}
    leads = []
    for n in range(1200):
        value = rng.choice(spellings)
        demo = rng.choice([0, 0, 1])
        odds = -1.0 + lift.get(value, 0.0) + 0.7 * demo
        converted = rng.random() < 1 / (1 + math.exp(-odds))
        leads.append(Lead(f"row {n}", None, converted, None, None, None, (), (float(demo),),
                          (demo,), values=(("lead_source", value),)))  # fmt: skip
    ds = Dataset("<test>", (), (), 0, ("Demo request",), (10.0,), tuple(leads), False, 0.0)
    config = {"engagement": {"rules": [RULES[0]]}}
    spec = settings_from_dict(config, "leadsync.toml").model_spec()
    found = suggest(ds, holdout_months=3, now=NOW)
    text = suggested_text(tomlkit.dumps(config), spec, found.proposal())
    loaded = settings_from_dict(tomlkit.parse(text).unwrap(), "suggested.toml").model_spec()
    added = [r for r in loaded.rules if r.attribute_test is not None]
    wanted = [r for column in found.value_points for r in column.rules]
    assert {spellings[0], spellings[1]} <= {r.value for r in wanted}, wanted  # the drivers
    assert [r.attribute_test.definition.values for r in added] == [(r.value,) for r in wanted]  # type: ignore[union-attr]
    assert [r.points for r in added] == [r.points for r in wanted]
    assert len({r.name for r in loaded.rules}) == len(loaded.rules)


def test_too_few_rows_in_an_undated_export_suggests_only_what_applies(tmp_path: Path) -> None:
    """An export without dates has no months to hold out and no sales cycle: the error names
    the --holdout share and the rows, not --holdout-months or --sales-cycle-days."""
    data, mapping = tmp_path / "few.csv", tmp_path / "few.toml"
    _export(data, 12, seed=3)
    mapping.write_text(MAPPING)
    spec = settings_from_dict(_config(), "leadsync.toml").model_spec()
    ds = leads_from_csv(data, mapping, spec, NOW)
    with pytest.raises(LeadSyncError) as info:
        suggest(ds, holdout_months=3, now=NOW)
    message = str(info.value)
    assert "12 rows in all. Try another --holdout share" in message, message
    assert "--holdout-months" not in message and "--sales-cycle-days" not in message


def test_a_multi_select_value_gets_a_rule_that_fires_as_tune_assumed(tmp_path: Path) -> None:
    """A multi-select cell ("Partner;Web") holds each of its values, as the model's one_of
    reads it, and spellings the model reads alike ("partner ", "PARTNER") are one value: the
    rule tune adds for "Partner" then fires, once applied, for exactly the leads it counted
    (the suggested config ranks the hold-out as tune said). Before, "Partner;Web" was a value
    of its own, whose rule the model never fires."""
    rng = random.Random(5)
    data, mapping = tmp_path / "multi.csv", tmp_path / "multi.toml"
    with data.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Source", "Demo Requests", "Converted"])
        for _ in range(3000):
            source = rng.choice(["Partner;Web", "Web", "Partner", "partner ", "PARTNER", "Event"])
            demos = rng.choice([0, 0, 1])
            partner = "partner" in source.casefold()
            logit = -1.2 + 1.6 * partner + 0.6 * demos
            converted = rng.random() < 1 / (1 + math.exp(-logit))
            out.writerow([source, demos, "Yes" if converted else "No"])
    mapping.write_text('converted = "Converted"\n[attributes]\nlead_source = "Source"\n'
                       '[activity_counts]\n"Demo request" = "Demo Requests"\n')  # fmt: skip
    config = {"engagement": {"rules": [RULES[0]]}}
    spec = settings_from_dict(config, "leadsync.toml").model_spec()
    found = suggest(leads_from_csv(data, mapping, spec, NOW), holdout_months=3, now=NOW)
    added = {r.value: r for v in found.value_points for r in v.rules}
    assert "Partner" in added and added["Partner"].points > 0, added
    assert not any(";" in value for value in added), added
    assert added["Partner"].with_value.n > 1000  # every partner lead, whatever the spelling

    text = suggested_text(tomlkit.dumps(config), spec, found.proposal())
    wider = settings_from_dict(tomlkit.parse(text).unwrap(), "suggested.toml").model_spec()
    ds = leads_from_csv(data, mapping, wider, NOW)
    test = split_history(ds, 3, now=NOW).test
    measured = evaluate(ds, test, ds.points, current_checklist(ds)).auc
    assert measured == pytest.approx(found.suggested.auc, abs=1e-9)


def _driven_export(path: Path, values: dict[str, float], seed: int = 9) -> None:
    """3,000 rows whose conversion a "Source" column drives (log-odds per value)."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Source", "Demo Requests", "Converted"])
        for _ in range(3000):
            value = rng.choice(list(values))
            demos = rng.choice([0, 0, 1])
            logit = -1.0 + values[value] + 0.6 * demos
            converted = rng.random() < 1 / (1 + math.exp(-logit))
            out.writerow([value, demos, "Yes" if converted else "No"])


def _suggested_and_measured(tmp_path: Path, values: dict[str, float], attribute: str) -> Any:
    data, mapping = tmp_path / "driven.csv", tmp_path / "driven.toml"
    _driven_export(data, values)
    mapping.write_text(f'converted = "Converted"\n[attributes]\n{attribute} = "Source"\n'
                       '[activity_counts]\n"Demo request" = "Demo Requests"\n')  # fmt: skip
    config = {"engagement": {"rules": [RULES[0]]}}
    spec = settings_from_dict(config, "leadsync.toml").model_spec()
    found = suggest(leads_from_csv(data, mapping, spec, NOW), holdout_months=3, now=NOW)
    text = suggested_text(tomlkit.dumps(config), spec, found.proposal())
    wider = settings_from_dict(tomlkit.parse(text).unwrap(), "suggested.toml").model_spec()
    ds = leads_from_csv(data, mapping, wider, NOW)
    measured = evaluate(ds, split_history(ds, 3, now=NOW).test, ds.points, current_checklist(ds))
    return found, measured.auc


def test_values_the_config_aliases_together_are_one_value(tmp_path: Path) -> None:
    """ "UK" is "United Kingdom" to a box or rule (built-in country aliases): tune counts them
    as one value, so it never adds two rules of opposite sign that would both fire for both,
    and the AUC it claims is the AUC of the config it writes. (Found by a stranger: +10 and
    -5 for the two spellings, 0.832 claimed, 0.707 once applied.)"""
    values = {"UK": 1.6, "United Kingdom": 1.6, "France": -0.6, "Spain": 0.0}
    found, measured = _suggested_and_measured(tmp_path, values, "country")
    rules = [r for v in found.value_points for r in v.rules]
    uk = [r for r in rules if r.value in ("UK", "United Kingdom")]
    assert len(uk) == 1 and uk[0].points > 0 and uk[0].with_value.n > 1000, rules
    # nor is the other spelling offered as a candidate box: the rule already scores it
    assert not {c.value for c in found.candidates} & {"UK", "United Kingdom"}, found.candidates
    assert measured == pytest.approx(found.suggested.auc, abs=1e-9)


def test_two_values_always_held_together_give_one_rule(tmp_path: Path) -> None:
    """A multi-select "Web;Form" that is the only cell holding either value: both values
    pick out the same leads, so one rule says it (two would split one effect)."""
    values = {"Web;Form": 1.5, "Event": 0.0, "Partner": -0.5}
    found, measured = _suggested_and_measured(tmp_path, values, "lead_origin")
    rules = {r.value for v in found.value_points for r in v.rules}
    assert len(rules & {"Web", "Form"}) == 1, rules
    assert measured == pytest.approx(found.suggested.auc, abs=1e-9)


def test_an_export_map_attribute_the_config_could_not_name_is_a_map_error(
    tmp_path: Path,
) -> None:
    """An [attributes] key no box or rule could name ("LeadOrigin") is refused when the map
    is read, naming the key and the form allowed (tune wrote rules on it that did not load)."""
    data, mapping = tmp_path / "x.csv", tmp_path / "x.toml"
    _driven_export(data, {"A": 1.0, "B": 0.0})
    mapping.write_text('converted = "Converted"\n[attributes]\nLeadOrigin = "Source"\n')
    spec = settings_from_dict(_config(), "leadsync.toml").model_spec()
    with pytest.raises(ConfigError) as info:
        leads_from_csv(data, mapping, spec, NOW)
    (problem,) = info.value.problems
    assert problem.startswith(f"{mapping}: attributes.LeadOrigin")
    assert "lower-case letters, digits and _" in problem and "'LeadOrigin'" in problem
