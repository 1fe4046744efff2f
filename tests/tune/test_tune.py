"""``tune`` on the generated history: it learns the true drivers and beats a bad config on
leads it never saw; the suggestion is a diff for review and the live config stays as it was."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from leadsync.config import settings_from_dict
from leadsync.errors import LeadSyncError
from leadsync.report import Dataset
from leadsync.tune import Proposal, suggest, suggested_text, time_split, to_points, unified_diff
from leadsync.tune.checklist import Checklist
from leadsync.tune.fitting import evaluate
from tests.report.history import BAD, dataset


def spec_required(spec: Any) -> tuple[bool, ...]:
    return tuple(c.definition.required for c in spec.criteria)


@pytest.fixture(scope="module")
def bad(history_url: str) -> Dataset:
    return dataset(history_url, BAD)


def test_tune_beats_a_deliberately_bad_config_on_the_hold_out(bad: Dataset) -> None:
    found = suggest(bad, holdout_months=3)
    assert found.current.auc is not None and found.suggested.auc is not None
    assert found.current.auc < 0.62
    assert found.suggested.auc > found.current.auc + 0.15
    points = dict(zip(bad.rules, found.points, strict=True))
    assert points["Demo request"] == 100  # the strongest driver keeps the config's top points
    assert points["Price sheet download"] > points["Blog view"]
    assert points["Blog view"] <= 5 and points["Email open"] <= 5
    box = dict(zip(bad.criteria, found.fit.box_coef, strict=True))
    assert box["Manufacturing"] > 1.0
    assert all(abs(box[name]) < 0.5 for name in box if name != "Manufacturing")
    # The checklist keeps the one box that drives conversion and drops the noise.
    verdicts = {b.name: b.verdict for b in found.boxes}
    assert verdicts["Manufacturing"] in ("keep", "require")
    assert {v for name, v in verdicts.items() if name != "Manufacturing"} == {"drop"}
    manufacturing = next(b for b in found.boxes if b.name == "Manufacturing")
    assert manufacturing.lift_low > 1.5
    # Issue 23's goal: within 5 % of the unrounded regression on the hold-out, in the
    # method's own shape (a checklist and integer points).
    assert found.logistic_auc is not None
    assert found.suggested.auc >= 0.95 * found.logistic_auc


def test_split_is_by_time(bad: Dataset) -> None:
    split = time_split(bad, 3)
    assert split.cutoff is not None
    assert all((lead.entered_at or split.cutoff) < split.cutoff for lead in split.train)
    assert all((lead.entered_at or split.cutoff) >= split.cutoff for lead in split.test)
    assert all(lead.entered_at is not None for lead in split.train + split.test)
    assert len(split.train) + len(split.test) == len(bad.decided)
    assert f"{split.cutoff:%Y-%m-%d}" == "2024-12-01"  # the last three months of entries


def test_too_little_history_is_an_error_that_says_what_to_do(bad: Dataset) -> None:
    with pytest.raises(LeadSyncError, match=r"not enough history to tune.*--holdout-months"):
        time_split(bad, 40)


def test_to_points_scales_to_the_config_and_keeps_unseen_rules() -> None:
    assert to_points([2.0, 1.0, -0.5, 0.0], [100, 50, 10, -25], [True, True, True, False]) == (
        100,
        50,
        -25,
        -25,
    )
    assert to_points([0.0, 0.0], [0, 0]) == (0, 0)
    assert to_points([0.3, 0.1], [0, 0]) == (100, 33)


def test_evaluate_ranks_good_fit_first(bad: Dataset) -> None:
    leads = bad.decided[:400]
    every = (True,) * len(bad.criteria)
    strict = evaluate(bad, leads, bad.points, Checklist(every, bad.required, len(every)))
    assert strict.leads == 400 and strict.auc is not None and strict.fit_auc is not None
    scores_only = evaluate(bad, leads, bad.points, Checklist(every, bad.required, 0))
    assert scores_only.auc == pytest.approx(scores_only.score_auc)
    assert scores_only.fit_auc == pytest.approx(0.5)


def test_diff_changes_only_points_and_cut_off(history_url: str, bad: Dataset) -> None:
    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    data = tomllib.loads(text)
    spec = settings_from_dict(data, "config.example.toml").model_spec()
    points = [7 * (i + 1) for i in range(len(spec.rules))]
    every = (True,) * len(spec.criteria)
    after = suggested_text(text, spec, Proposal(points, Checklist(every, spec_required(spec), 2)))
    diff = unified_diff(text, after, "leadsync.toml")
    lines = diff.splitlines()
    changed = [x for x in lines if x[:1] in "+-" and not x.startswith(("+++", "---"))]
    assert len(changed) == 2 * (len(spec.rules) + 1)
    assert all("points =" in line or "good_fit_min =" in line for line in changed)
    assert "# Copy to leadsync.toml" in after  # comments survive
    parsed = tomllib.loads(after)
    assert [r["points"] for r in parsed["engagement"]["rules"]] == points
    assert parsed["icp"]["good_fit_min"] == 2
    # A config relying on the built-in rules gets them spelled out, and still validates.
    minimal = (
        '[icp]\ngood_fit_min = 1\n\n[[icp.criteria]]\nname = "M"\nattribute = "industry"\n'
        'operator = "one_of"\nvalues = ["Manufacturing"]\n'
    )
    small = settings_from_dict(tomllib.loads(minimal), "<m>").model_spec()
    spelled = suggested_text(
        minimal, small, Proposal([1] * len(small.rules), Checklist((True,), (False,), 0))
    )
    again = settings_from_dict(tomllib.loads(spelled), "<m>").model_spec()
    assert [r.name for r in again.rules] == [r.name for r in small.rules]
    assert [r.points for r in again.rules] == [1.0] * len(small.rules)
    assert [r.name_re.pattern if r.name_re else None for r in again.rules] == [
        r.name_re.pattern if r.name_re else None for r in small.rules
    ]


def test_cli_tune_writes_a_review_file_and_leaves_the_config(
    tmp_path: Path, history_url: str
) -> None:
    import tomli_w

    config = tmp_path / "leadsync.toml"
    config.write_text(tomli_w.dumps({**BAD, "store": {"url": history_url}}))
    before = config.read_text()
    out = tmp_path / "suggestion.toml"
    run = subprocess.run(
        [sys.executable, "-c", "from leadsync.cli import main; main()", "--config", str(config),
         "tune", "--holdout-months", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert config.read_text() == before
    suggestion = tomllib.loads(out.read_text())
    assert suggestion["icp"]["good_fit_min"] in range(0, 5)
    rules = suggestion["engagement"]["rules"]
    configured = [rule["name"] for rule in BAD["engagement"]["rules"]]
    assert [rule["name"] for rule in rules][: len(configured)] == configured
    # anything after them is a per-value rule on a column no box tests, and says so
    added = rules[len(configured) :]
    assert all(rule["operator"] == "one_of" and len(rule["values"]) == 1 for rule in added)
    assert not {rule["attribute"] for rule in added} & {"industry", "title", "employees"}
    if added:
        assert "per-value rules added for" in out.read_text()
    assert "# +" in out.read_text() and "Hold-out AUC" in out.read_text()
    assert "Hold-out ranking quality" in run.stdout
    print(run.stdout)  # shown with -s: what an admin reads
    assert "ICP checklist" in run.stdout and "Manufacturing" in run.stdout
    # The review file says what becomes of each box, with its evidence.
    assert "criterion 'Manufacturing': keep" in out.read_text()
    assert [c["name"] for c in suggestion["icp"]["criteria"]] == ["Manufacturing"]
    # The threshold moves with the rescaled points (BAD's 100 would leave almost no one below).
    assert 0 < suggestion["engagement"]["sales_ready_threshold"] < 100
    assert "Sales-ready threshold on the hold-out" in run.stdout
    assert "Impact by month of entry" in run.stdout
    refused = subprocess.run(
        [sys.executable, "-c", "from leadsync.cli import main; main()", "--config", str(config),
         "tune", "--out", str(config)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2 and "never edits it" in refused.stderr
    assert config.read_text() == before
