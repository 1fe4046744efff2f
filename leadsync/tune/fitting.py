"""Suggest engagement points and a good-fit cut-off from history, and check them on later leads.

The model is a logistic regression (L2-regularised, its strength picked by 5-fold
cross-validation on the training leads) over each lead's ICP boxes (0/1) and, per engagement
rule, the exposure its points multiply (the decayed count of activities it counted). Because
the config's engagement score is exactly ``sum(points * exposure)``, a rule's coefficient *is*
its weight in log-odds; scaling the coefficients so the strongest rule keeps the config's
largest points, and rounding, gives integer points in the config's own units. The good-fit
cut-off (``good_fit_min``) is the one that ranks the training leads best together with the
suggested points.

A config ranks leads the way the matrix does: good fit above poor fit, then by score. The
hold-out is time-based: train on the leads that entered earlier, test on the last months.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from leadsync.errors import LeadSyncError
from leadsync.model import round_half_up
from leadsync.report.dataset import Dataset, Lead
from leadsync.report.sections import period_start

#: Regularisation strengths tried (sklearn's C: smaller = stronger L2 penalty).
C_GRID = tuple(float(c) for c in np.logspace(-3, 2, 11))
#: Share of an undated export held out (its last rows).
UNDATED_HOLDOUT = 0.25
#: Fewest converters and non-converters each side of the split needs.
MIN_CLASS = 5


@dataclass(frozen=True, slots=True)
class Split:
    train: tuple[Lead, ...]
    test: tuple[Lead, ...]
    #: First entry date of the test leads (``None`` for an undated export).
    cutoff: datetime | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """How well one config ranks a set of leads (AUC; ``None`` if one class is absent)."""

    leads: int
    converted: int
    auc: float | None
    score_auc: float | None
    fit_auc: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "converted": self.converted,
            "auc": self.auc,
            "score_auc": self.score_auc,
            "fit_auc": self.fit_auc,
        }


@dataclass(frozen=True, slots=True)
class LogisticFit:
    """The fitted regression: per-box and per-rule coefficients in raw feature units."""

    box_coef: tuple[float, ...]
    rule_coef: tuple[float, ...]
    intercept: float
    c: float
    scaler: StandardScaler
    model: LogisticRegression

    def probabilities(self, ds: Dataset, leads: Sequence[Lead]) -> NDArray[np.float64]:
        X = self.scaler.transform(features(leads))
        return np.asarray(self.model.predict_proba(X)[:, 1], dtype=float)


@dataclass(frozen=True, slots=True)
class Suggestion:
    points: tuple[int, ...]
    good_fit_min: int
    fit: LogisticFit
    split: Split
    current: Evaluation
    suggested: Evaluation
    #: The unrounded regression's own hold-out AUC (no integer points, no matrix ordering).
    logistic_auc: float | None

    def to_dict(self, ds: Dataset) -> dict[str, Any]:
        split = self.split
        return {
            "origin": ds.origin,
            "train": {"leads": len(split.train), "converted": _positives(split.train)},
            "holdout": {
                "leads": len(split.test),
                "converted": _positives(split.test),
                "from": split.cutoff,
            },
            "regularisation_c": self.fit.c,
            "good_fit_min": {"current": ds.good_fit_min, "suggested": self.good_fit_min},
            "rules": [
                {
                    "name": name,
                    "current": ds.points[i],
                    "suggested": self.points[i],
                    "coefficient": self.fit.rule_coef[i],
                }
                for i, name in enumerate(ds.rules)
            ],
            "criteria": [
                {"name": name, "required": ds.required[i], "coefficient": self.fit.box_coef[i]}
                for i, name in enumerate(ds.criteria)
            ],
            "auc": {
                "current": self.current.to_dict(),
                "suggested": self.suggested.to_dict(),
                "logistic_regression": self.logistic_auc,
            },
        }


def _positives(leads: Sequence[Lead]) -> int:
    return sum(bool(lead.converted) for lead in leads)


def features(leads: Sequence[Lead]) -> NDArray[np.float64]:
    """One row per lead: its boxes (0/1), then each rule's exposure."""
    if not leads:
        return np.zeros((0, 0))
    return np.asarray([[*map(float, lead.boxes), *lead.exposure] for lead in leads], dtype=float)


def labels(leads: Sequence[Lead]) -> NDArray[np.int_]:
    return np.asarray([1 if lead.converted else 0 for lead in leads], dtype=int)


def time_split(ds: Dataset, holdout_months: int) -> Split:
    """Decided leads split by time: the last ``holdout_months`` months of entries are the test
    set. An export without dates is split by row order (its last quarter is the test set)."""
    decided = list(ds.decided)
    if decided and all(lead.entered_at is not None for lead in decided):
        decided.sort(key=lambda lead: lead.entered_at or datetime.min)
        latest = decided[-1].entered_at
        assert latest is not None
        cutoff = period_start(latest, holdout_months)
        train = tuple(lead for lead in decided if (lead.entered_at or cutoff) < cutoff)
        test = tuple(lead for lead in decided if (lead.entered_at or cutoff) >= cutoff)
        split = Split(train, test, cutoff)
    else:
        at = len(decided) - math.ceil(len(decided) * UNDATED_HOLDOUT)
        split = Split(tuple(decided[:at]), tuple(decided[at:]), None)
    for name, part in (("training", split.train), ("hold-out", split.test)):
        positives = _positives(part)
        if positives < MIN_CLASS or len(part) - positives < MIN_CLASS:
            raise LeadSyncError(
                f"not enough history to tune: the {name} leads hold {positives} converted and "
                f"{len(part) - positives} not converted (at least {MIN_CLASS} of each needed); "
                f"{len(ds.leads) - len(decided)} leads are still within their sales cycle. "
                f"Try another --holdout-months, a shorter --sales-cycle-days, or more history"
            )
    return split


def fit_logistic(leads: Sequence[Lead], n_criteria: int) -> LogisticFit:
    """L2 logistic regression on standardised features, C picked by cross-validated log-loss;
    coefficients are returned per raw unit (one box checked, one unit of exposure)."""
    X = features(leads)
    y = labels(leads)
    scaler = StandardScaler().fit(X)
    folds = max(2, min(5, int(y.sum()), int(len(y) - y.sum())))
    search = GridSearchCV(
        LogisticRegression(max_iter=2000),
        {"C": list(C_GRID)},
        cv=StratifiedKFold(folds, shuffle=True, random_state=0),
        scoring="neg_log_loss",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(scaler.transform(X), y)
    model: LogisticRegression = search.best_estimator_
    raw = model.coef_[0] / scaler.scale_
    return LogisticFit(
        box_coef=tuple(float(v) for v in raw[:n_criteria]),
        rule_coef=tuple(float(v) for v in raw[n_criteria:]),
        intercept=float(model.intercept_[0]),
        c=float(search.best_params_["C"]),
        scaler=scaler,
        model=model,
    )


def to_points(
    coefficients: Sequence[float], current: Sequence[float], seen: Sequence[bool] | None = None
) -> tuple[int, ...]:
    """Integer points: coefficients scaled so the strongest keeps the config's largest
    magnitude (100 when the config has none), rounded half away from zero. A rule the history
    never saw fire (``seen`` False) keeps its current points: no evidence, no change."""
    seen = [True] * len(coefficients) if seen is None else seen
    strongest = max((abs(c) for c, s in zip(coefficients, seen, strict=True) if s), default=0.0)
    top = max((abs(p) for p in current), default=0.0) or 100.0
    return tuple(
        round_half_up(c * top / strongest) if s and strongest > 0 else round_half_up(p)
        for c, p, s in zip(coefficients, current, seen, strict=True)
    )


def _auc(y: NDArray[np.int_], key: Sequence[float]) -> float | None:
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, np.asarray(key, dtype=float)))


def evaluate(
    ds: Dataset, leads: Sequence[Lead], points: Sequence[float], good_fit_min: int
) -> Evaluation:
    """AUC of the matrix ordering (good fit first, then score), of the score, and of fit."""
    y = labels(leads)
    scores = [ds.engagement(lead, points) for lead in leads]
    good = [1.0 if ds.is_good_fit(lead, good_fit_min) else 0.0 for lead in leads]
    span = (max(scores) - min(scores) + 1.0) if scores else 1.0
    low = min(scores) if scores else 0.0
    combined = [g * span + (s - low) for g, s in zip(good, scores, strict=True)]
    return Evaluation(
        leads=len(leads),
        converted=int(y.sum()),
        auc=_auc(y, combined),
        score_auc=_auc(y, scores),
        fit_auc=_auc(y, good),
    )


def best_cutoff(ds: Dataset, leads: Sequence[Lead], points: Sequence[float]) -> int:
    """The ``good_fit_min`` whose matrix ordering ranks ``leads`` best (ties: the config's
    own value, then the lower one)."""
    best, best_auc = ds.good_fit_min, -1.0
    for minimum in sorted(range(len(ds.criteria) + 1), key=lambda m: (m != ds.good_fit_min, m)):
        auc = evaluate(ds, leads, points, minimum).auc
        if auc is not None and auc > best_auc + 1e-12:
            best, best_auc = minimum, auc
    return best


def suggest(ds: Dataset, holdout_months: int) -> Suggestion:
    """Fit on the earlier leads, suggest points and a cut-off, evaluate both configs later."""
    split = time_split(ds, holdout_months)
    fit = fit_logistic(split.train, len(ds.criteria))
    seen = [any(lead.fired[i] for lead in split.train) for i in range(len(ds.rules))]
    points = to_points(fit.rule_coef, ds.points, seen)
    cutoff = best_cutoff(ds, split.train, points)
    y = labels(split.test)
    return Suggestion(
        points=points,
        good_fit_min=cutoff,
        fit=fit,
        split=split,
        current=evaluate(ds, split.test, ds.points, ds.good_fit_min),
        suggested=evaluate(ds, split.test, points, cutoff),
        logistic_auc=_auc(y, fit.probabilities(ds, split.test).tolist()),
    )
