"""Suggest engagement points and a good-fit cut-off from history, and check them on later leads.

The model is a logistic regression (L2-regularised, its strength picked by 5-fold
cross-validation on the training leads) over each lead's ICP boxes (0/1) and, per engagement
rule, the exposure its points multiply (the decayed count of activities it counted). Because
the config's engagement score is exactly ``sum(points * exposure)``, a rule's coefficient *is*
its weight in log-odds; scaling the coefficients so the strongest rule keeps the config's
largest points, and rounding, gives integer points in the config's own units. The ICP
checklist (which boxes count, which are required, and ``good_fit_min``) is the one that ranks
the training leads best together with the suggested points (:mod:`leadsync.tune.checklist`).

A config ranks leads the way the matrix does: good fit above poor fit, then by score. The
hold-out is time-based when every lead has an entry date: train on the leads that entered
earlier, test on the last months. An undated export, or a time hold-out holding only one class
(all converted, say, when the months held out lie inside the sales cycle), gets a stratified
random hold-out instead: a stated share of the converted and of the other leads, drawn with a
stated seed, so a run can be repeated. The split always says on screen which one it made.

Only leads whose whole sales cycle lies in the past are learned from: a lead that entered less
than a cycle ago is decided only if it converted already, and keeping those would teach the
model that recent leads convert (and that whatever recent leads do is what converts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from leadsync.errors import LeadSyncError
from leadsync.report.dataset import Dataset, Lead
from leadsync.report.sections import period_start
from leadsync.tune.candidates import CandidateBox, candidate_boxes
from leadsync.tune.checklist import (
    BoxEvidence,
    Checklist,
    evidence,
    search_checklist,
    weak_boxes,
)
from leadsync.tune.diff import Proposal
from leadsync.tune.regression import (
    Evaluation,
    LogisticFit,
    auc,
    evaluate,
    fit_logistic,
    labels,
    to_points,
    unrounded_points,
)
from leadsync.tune.rules import RuleEvidence, rule_evidence
from leadsync.tune.threshold import ThresholdCheck, best_threshold, check
from leadsync.tune.value_points import (
    ValuePoints,
    by_column,
    extend,
    value_candidates,
    value_key,
    widen,
)

#: Share of the leads a stratified random hold-out keeps apart, and its default seed.
HOLDOUT_SHARE = 0.25
HOLDOUT_SEED = 7
#: Fewest converters and non-converters each side of the split needs.
MIN_CLASS = 5


@dataclass(frozen=True, slots=True)
class Split:
    train: tuple[Lead, ...]
    test: tuple[Lead, ...]
    #: First entry date of the test leads (``None`` for a stratified random hold-out).
    cutoff: datetime | None
    #: How the split was made, as said on screen ("hold-out: 25 % stratified random, ...").
    description: str = ""
    #: Why the split is not the one asked for (a time hold-out with one class), or "".
    note: str = ""


@dataclass(frozen=True, slots=True)
class Suggestion:
    points: tuple[int, ...]
    checklist: Checklist
    #: Each ICP box on the training leads: counts, rates, lift, and what to do with it.
    boxes: tuple[BoxEvidence, ...]
    #: Each engagement rule on the training leads: counts, rates, lift, warnings.
    rules: tuple[RuleEvidence, ...]
    fit: LogisticFit
    split: Split
    current: Evaluation
    suggested: Evaluation
    #: The unrounded regression's own hold-out AUC (no integer points, no matrix ordering).
    logistic_auc: float | None
    #: The sales-ready threshold on the hold-out: the config's with its points, then the
    #: suggested one with the suggested points (``None`` when no threshold was given).
    thresholds: tuple[ThresholdCheck, ThresholdCheck] | None = None
    #: Attribute values no box covers whose leads converted clearly better (for review).
    candidates: tuple[CandidateBox, ...] = ()
    #: Per-value points for categorical columns the config does not score, added to the
    #: suggestion as attribute rules (their points are not in ``points``).
    value_points: tuple[ValuePoints, ...] = ()
    #: The suggestion on the hold-out without them (``None`` when there are none).
    without_values: Evaluation | None = None

    def proposal(self) -> Proposal:
        """The config edit; the threshold only when it moved."""
        moved = self.thresholds is not None and (
            self.thresholds[1].threshold != self.thresholds[0].threshold
        )
        suggested = int(self.thresholds[1].threshold) if self.thresholds and moved else None
        added = tuple(rule for column in self.value_points for rule in column.rules)
        return Proposal(self.points, self.checklist, suggested, added)

    @property
    def good_fit_min(self) -> int:
        return self.checklist.good_fit_min

    def to_dict(self, ds: Dataset) -> dict[str, Any]:
        split = self.split
        return {
            "origin": ds.origin,
            "train": {"leads": len(split.train), "converted": _positives(split.train)},
            "holdout": {
                "leads": len(split.test),
                "converted": _positives(split.test),
                "from": split.cutoff,
                "how": split.description,
                "note": split.note or None,
            },
            "regularisation_c": self.fit.c,
            "good_fit_min": {"current": ds.good_fit_min, "suggested": self.good_fit_min},
            "rules": [
                {
                    "name": name,
                    "current": ds.points[i],
                    "suggested": self.points[i],
                    "coefficient": self.fit.rule_coef[i],
                    **self.rules[i].to_dict(),
                }
                for i, name in enumerate(ds.rules)
            ],
            "criteria": [box.to_dict() for box in self.boxes],
            "sales_ready_threshold": None
            if self.thresholds is None
            else {
                "current": self.thresholds[0].to_dict(),
                "suggested": self.thresholds[1].to_dict(),
            },
            "candidate_boxes": [c.to_dict() for c in self.candidates],
            "value_points": [v.to_dict() for v in self.value_points],
            "auc": {
                "current": self.current.to_dict(),
                "suggested": self.suggested.to_dict(),
                "suggested_without_value_points": None
                if self.without_values is None
                else self.without_values.to_dict(),
                "logistic_regression": self.logistic_auc,
            },
        }


def _positives(leads: Sequence[Lead]) -> int:
    return sum(bool(lead.converted) for lead in leads)


def _counts(leads: Sequence[Lead]) -> tuple[int, int]:
    positives = _positives(leads)
    return positives, len(leads) - positives


def closed_cohorts(ds: Dataset, now: datetime | None) -> tuple[Lead, ...]:
    """Decided leads whose sales cycle has ended by ``now`` (all decided leads of an export,
    whose converted flag is final, or when ``now`` is not given)."""
    if now is None or ds.cycle_days <= 0:
        return ds.decided
    cycle = timedelta(days=ds.cycle_days)
    return tuple(
        lead for lead in ds.decided if lead.entered_at is None or lead.entered_at + cycle <= now
    )


def stratified_split(leads: Sequence[Lead], share: float, seed: int, note: str = "") -> Split:
    """``share`` of the converted and of the other leads held out at random (``seed``)."""
    y = labels(leads)
    held = math.ceil(share * len(leads))  # as train_test_split rounds a float test_size
    # Each side of a stratified split needs a lead of each class: too few rows hold none out.
    if held < 2 or len(leads) - held < 2 or min(int(y.sum()), int(len(y) - y.sum())) < 2:
        train, test = list(leads), []
    else:
        train, test = train_test_split(
            list(leads), test_size=share, random_state=seed, stratify=y, shuffle=True
        )
    positives = _positives(test)
    description = (
        f"hold-out: {share * 100:g} % stratified random, seed {seed}: {len(test):,} rows, "
        f"{positives:,} converted"
    )
    return Split(tuple(train), tuple(test), None, description, note)


def time_split(ds: Dataset, holdout_months: int, now: datetime | None = None) -> Split:
    """Leads split by time: the last ``holdout_months`` months of entries are the test set
    (every lead must be dated; ``split_history`` falls back when they are not)."""
    decided = closed_cohorts(ds, now)
    split = _by_time(decided, holdout_months)
    if split is None:
        raise LeadSyncError("a time hold-out needs an entry date on every lead")
    _check(split, ds, len(decided))
    return split


def _by_time(leads: Sequence[Lead], holdout_months: int) -> Split | None:
    if not leads or any(lead.entered_at is None for lead in leads):
        return None
    ordered = sorted(leads, key=lambda lead: lead.entered_at or datetime.min)
    latest = ordered[-1].entered_at
    assert latest is not None
    cutoff = period_start(latest, holdout_months)
    train = tuple(lead for lead in ordered if (lead.entered_at or cutoff) < cutoff)
    test = tuple(lead for lead in ordered if (lead.entered_at or cutoff) >= cutoff)
    positives = _positives(test)
    description = (
        f"hold-out: the last {holdout_months} months of entries (from {cutoff:%Y-%m-%d}): "
        f"{len(test):,} leads, {positives:,} converted"
    )
    return Split(train, test, cutoff, description)


def split_history(
    ds: Dataset,
    holdout_months: int,
    *,
    share: float = HOLDOUT_SHARE,
    seed: int = HOLDOUT_SEED,
    now: datetime | None = None,
) -> Split:
    """The hold-out ``tune`` checks on: by time when every lead is dated and both sides hold
    both classes; otherwise stratified random (``share``, ``seed``), with a one-line note."""
    leads = closed_cohorts(ds, now)
    by_time = _by_time(leads, holdout_months)
    if by_time is not None and _short_side(by_time) is None:
        return by_time
    note = ""
    if by_time is not None:
        side, positives, negatives = _short_side(by_time) or ("", 0, 0)
        note = (
            f"the last {holdout_months} months leave the {side} leads {positives:,} converted "
            f"and {negatives:,} not converted: held out at random instead"
        )
    split = stratified_split(leads, share, seed, note)
    _check(split, ds, len(leads))
    return split


def _short_side(split: Split) -> tuple[str, int, int] | None:
    """The first side of ``split`` with fewer than ``MIN_CLASS`` of a class, with its counts."""
    for name, part in (("training", split.train), ("hold-out", split.test)):
        positives, negatives = _counts(part)
        if positives < MIN_CLASS or negatives < MIN_CLASS:
            return name, positives, negatives
    return None


def _check(split: Split, ds: Dataset, usable: int) -> None:
    """At least ``MIN_CLASS`` converted and not-converted leads on each side, or an error
    that says what to try."""
    short = _short_side(split)
    if short is not None:
        name, positives, negatives = short
        counts = (
            f"not enough history to tune: the {name} leads hold {positives} converted and "
            f"{negatives} not converted (at least {MIN_CLASS} of each needed)"
        )
        if not ds.decayed and all(lead.entered_at is None for lead in ds.leads):
            # An undated export: no months to hold out and no sales cycle to wait for.
            raise LeadSyncError(
                f"{counts}; {len(ds.leads):,} rows in all. Try another --holdout share, or an "
                "export with more rows of each outcome"
            )
        raise LeadSyncError(
            f"{counts}; {len(ds.leads) - usable} leads are still within their sales cycle. "
            "Try another --holdout-months or --holdout share, a shorter --sales-cycle-days, "
            "or more history"
        )


def _unscored(
    candidates: Sequence[CandidateBox], values: Sequence[ValuePoints], ds: Dataset
) -> tuple[CandidateBox, ...]:
    """The candidate boxes on values the suggestion does not already give points (read as a
    box reads them, aliases included): one value is fit or engagement, never both."""
    scored = {(r.attribute, value_key(r.attribute, r.value, ds.aliases)) for v in values
              for r in v.rules}  # fmt: skip
    return tuple(
        c for c in candidates if (c.attribute, value_key(c.attribute, c.value, ds.aliases))
        not in scored
    )  # fmt: skip


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def current_checklist(ds: Dataset) -> Checklist:
    """The config's own checklist: every box counts, its required ones, its cut-off."""
    return Checklist((True,) * len(ds.criteria), tuple(ds.required), ds.good_fit_min)


def suggest(
    ds: Dataset,
    holdout_months: int,
    *,
    share: float = HOLDOUT_SHARE,
    seed: int = HOLDOUT_SEED,
    now: datetime | None = None,
    sales_ready_threshold: float | None = None,
) -> Suggestion:
    """Fit on the training leads, suggest points, per-value points for categorical columns
    the config does not score, a checklist and (given the config's ``sales_ready_threshold``)
    a threshold; evaluate both configs on the hold-out (``split_history``).

    The value candidates (``leadsync.tune.value_points``) join the regression as rules at 0
    points, so their points and the rules' come from one fit, in one unit; the checklist and
    the threshold are then searched on the scores they make together."""
    split = split_history(ds, holdout_months, share=share, seed=seed, now=now)
    candidates = value_candidates(ds, split.train)
    wide, train, test = (
        widen(ds, candidates),
        extend(split.train, candidates, ds.aliases),
        extend(split.test, candidates, ds.aliases),
    )
    fit = fit_logistic(train, len(ds.criteria))
    seen = [any(lead.fired[i] for lead in train) for i in range(len(wide.rules))]
    every = to_points(fit.rule_coef, wide.points, seen)
    n = len(ds.rules)
    points, values = every[:n], by_column(candidates, every[n:])
    scores = np.asarray([wide.engagement(lead, every) for lead in train], dtype=float)
    checklist = search_checklist(wide, train, scores, weak_boxes(ds, split.train))
    y = labels(split.test)
    return Suggestion(
        points=points,
        checklist=checklist,
        boxes=evidence(ds, split.train, fit.box_coef, checklist),
        rules=rule_evidence(
            ds, split.train, points, unrounded_points(fit.rule_coef, wide.points, seen)[:n]
        ),
        candidates=_unscored(candidate_boxes(ds, split.train), values, ds),
        value_points=values,
        without_values=evaluate(ds, split.test, points, checklist) if values else None,
        fit=fit,
        split=split,
        current=evaluate(ds, split.test, ds.points, current_checklist(ds)),
        suggested=evaluate(wide, test, every, checklist),
        logistic_auc=auc(y, fit.probabilities(wide, test).tolist()),
        thresholds=None
        if sales_ready_threshold is None
        else (
            check(ds, split.test, ds.points, sales_ready_threshold),
            check(
                wide, test, every, _or(best_threshold(wide, train, every), sales_ready_threshold)
            ),
        ),
    )
