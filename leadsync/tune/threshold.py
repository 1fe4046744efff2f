"""The sales-ready threshold suggested with the points, in the suggested points' units.

Rescaled points move every score, so the config's threshold no longer means what it meant.
The threshold suggested is the score that best separates the training leads that converted
from those that did not (Youden's J: the share of converters at or above it minus the share of
the others at or above it; the lower score on a tie, so fewer leads wait). Each side of it is
shown on the hold-out for both configs: how many leads are sales-ready and how many of them
converted, against the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadsync.model import round_half_up
from leadsync.report.dataset import Dataset, Lead
from leadsync.report.stats import Share
from leadsync.tune.checklist import compare


@dataclass(frozen=True, slots=True)
class ThresholdCheck:
    """One config's threshold on the hold-out: the sales-ready leads and the others."""

    threshold: float
    ready: Share
    not_ready: Share

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "sales_ready": self.ready.to_dict(),
            "not_sales_ready": self.not_ready.to_dict(),
        }


def best_threshold(ds: Dataset, leads: Sequence[Lead], points: Sequence[float]) -> int | None:
    """The integer score threshold with the highest Youden's J on ``leads`` (lowest on ties);
    ``None`` when no score tells converters apart (no rule fired: a threshold of 0 would make
    every lead sales-ready)."""
    scores = np.asarray([ds.engagement(lead, points) for lead in leads], dtype=float)
    y = np.asarray([bool(lead.converted) for lead in leads])
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return None
    best, best_j = None, 0.0
    below = 0  # the highest score under the candidate: any threshold above it splits alike
    for candidate in sorted({round_half_up(s) for s in scores if s > 0}):
        ready = scores >= candidate
        j = (ready & y).sum() / positives - (ready & ~y).sum() / negatives
        if j > best_j + 1e-12:
            # The lowest integer making this split: no training lead tells 29 from 30 when
            # nobody scored 29, and a lead scoring it later should not wait.
            best, best_j = int(below) + 1, float(j)
        below = candidate
    return best


def check(
    ds: Dataset, leads: Sequence[Lead], points: Sequence[float], threshold: float
) -> ThresholdCheck:
    ready, rest = compare(leads, lambda lead: ds.engagement(lead, points) >= threshold)
    return ThresholdCheck(threshold, ready, rest)
