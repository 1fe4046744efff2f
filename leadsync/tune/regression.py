"""The regression under ``tune``: features per lead, the L2 logistic fit, its coefficients
mapped to integer points in the config's units, and how well a config ranks leads (AUC).

A lead's features are its ICP boxes (0/1), then per engagement rule the exposure its points
multiply, so a rule's coefficient is its weight in log-odds and scaling the coefficients keeps
the config's units (see :mod:`leadsync.tune.fitting`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from leadsync.model import round_half_up
from leadsync.report.dataset import Dataset, Lead
from leadsync.tune.checklist import Checklist

#: Regularisation strengths tried (sklearn's C: smaller = stronger L2 penalty).
C_GRID = tuple(float(c) for c in np.logspace(-3, 2, 11))


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


def features(leads: Sequence[Lead]) -> NDArray[np.float64]:
    """One row per lead: its boxes (0/1), then each rule's exposure."""
    if not leads:
        return np.zeros((0, 0))
    return np.asarray([[*map(float, lead.boxes), *lead.exposure] for lead in leads], dtype=float)


def labels(leads: Sequence[Lead]) -> NDArray[np.int_]:
    return np.asarray([1 if lead.converted else 0 for lead in leads], dtype=int)


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
    return tuple(round_half_up(p) for p in unrounded_points(coefficients, current, seen))


def unrounded_points(
    coefficients: Sequence[float], current: Sequence[float], seen: Sequence[bool]
) -> tuple[float, ...]:
    """The points :func:`to_points` rounds: coefficients in the config's units."""
    scale = points_scale(coefficients, current, seen)
    return tuple(
        c * scale if s and scale is not None else float(p)
        for c, p, s in zip(coefficients, current, seen, strict=True)
    )


def points_scale(
    coefficients: Sequence[float], current: Sequence[float], seen: Sequence[bool]
) -> float | None:
    """Points per unit of coefficient: the strongest seen coefficient becomes the config's
    largest magnitude (100 when it has none); ``None`` when no seen rule has a coefficient."""
    strongest = max((abs(c) for c, s in zip(coefficients, seen, strict=True) if s), default=0.0)
    top = max((abs(p) for p in current), default=0.0) or 100.0
    return top / strongest if strongest > 0 else None


def auc(y: NDArray[np.int_], key: Sequence[float]) -> float | None:
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, np.asarray(key, dtype=float)))


def evaluate(
    ds: Dataset, leads: Sequence[Lead], points: Sequence[float], checklist: Checklist
) -> Evaluation:
    """AUC of the matrix ordering (good fit first, then score), of the score, and of fit."""
    y = labels(leads)
    scores = [ds.engagement(lead, points) for lead in leads]
    good = [1.0 if checklist.is_good_fit(lead) else 0.0 for lead in leads]
    span = (max(scores) - min(scores) + 1.0) if scores else 1.0
    low = min(scores) if scores else 0.0
    combined = [g * span + (s - low) for g, s in zip(good, scores, strict=True)]
    return Evaluation(
        leads=len(leads),
        converted=int(y.sum()),
        auc=auc(y, combined),
        score_auc=auc(y, scores),
        fit_auc=auc(y, good),
    )
