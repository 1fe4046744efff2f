"""The ICP checklist suggested from history: keep, drop or require each box, and a cut-off.

The method's fit is a count of equal boxes against ``good_fit_min`` (a required box must be
checked whatever the count), so the regression's per-box log-odds cannot be copied into the
config the way engagement points are. Instead the checklist is searched: starting from the
config's own, each step tries dropping a box, putting a dropped box back, or toggling whether
a box is required, each with its best cut-off, and keeps the move that ranks the training leads
best (good fit first, then the suggested engagement score). A box whose conversion lift has a
95 % interval spanning 1 (no evidence either way) is dropped unless dropping it costs ranking;
a box that lowers conversion is flagged, since checking it marks leads as *better*.

Every box is shown with its counts: leads with the box checked and not, how many of each
converted, each rate with its 95 % Wilson interval, and the lift (rate checked / rate not) with
its 95 % interval (the log method for a ratio of two proportions).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from leadsync.report.dataset import Dataset, Lead
from leadsync.report.stats import Share, lift, share

#: A move must rank the training leads better by more than this to be taken...
MIN_GAIN = 1e-3
#: ...except dropping a box with no evidence, taken unless it costs more than this.
FREE_DROP_COST = 1e-3
#: Steps the search may take (each changes one box); it stops sooner at a local best.
MAX_STEPS = 64

Verdict = Literal["keep", "drop", "require"]


def compare(leads: Sequence[Lead], has: Callable[[Lead], bool]) -> tuple[Share, Share]:
    """Conversion of the leads ``has`` picks out, and of the others (Wilson intervals)."""
    hits = [0, 0]
    sizes = [0, 0]
    for lead in leads:
        side = 0 if has(lead) else 1
        sizes[side] += 1
        hits[side] += bool(lead.converted)
    return share(hits[0], sizes[0]), share(hits[1], sizes[1])


def has_box(index: int) -> Callable[[Lead], bool]:
    return lambda lead: lead.boxes[index]


def has_fired(index: int) -> Callable[[Lead], bool]:
    return lambda lead: bool(lead.fired[index])


def lift_of(with_it: Share, without: Share) -> tuple[float | None, float, float]:
    """The lift of ``with_it`` over ``without`` (``leadsync.report.stats.lift``), an interval
    nothing bounds read as 0 to infinity."""
    found = lift(with_it.k, with_it.n, without.k, without.n)
    low = found.low if found.low is not None else 0.0
    return found.ratio, low, found.high if found.high is not None else math.inf


@dataclass(frozen=True, slots=True)
class BoxEvidence:
    """One box on the training leads: who had it, who converted, and the verdict."""

    name: str
    checked: Share
    unchecked: Share
    lift: float | None
    lift_low: float
    lift_high: float
    coefficient: float
    required_now: bool
    verdict: Verdict
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checked": self.checked.to_dict(),
            "unchecked": self.unchecked.to_dict(),
            "lift": self.lift,
            "lift_low": self.lift_low,
            # JSON has no infinity: an unbounded interval (all or none have the box) is null.
            "lift_high": None if math.isinf(self.lift_high) else self.lift_high,
            "coefficient": self.coefficient,
            "required": {"current": self.required_now, "suggested": self.verdict == "require"},
            "verdict": self.verdict,
            "note": self.note or None,
        }


@dataclass(frozen=True, slots=True)
class Checklist:
    """Which boxes count and which are required, with the cut-off over the kept ones."""

    kept: tuple[bool, ...]
    required: tuple[bool, ...]
    good_fit_min: int

    def good(self, boxes: NDArray[np.bool_]) -> NDArray[np.bool_]:
        kept = np.asarray(self.kept, dtype=bool)
        needed = np.asarray(self.required, dtype=bool) & kept
        count = boxes[:, kept].sum(axis=1) if kept.any() else np.zeros(len(boxes))
        meets = boxes[:, needed].all(axis=1) if needed.any() else np.ones(len(boxes), bool)
        return np.asarray(meets & (count >= self.good_fit_min), dtype=bool)

    def is_good_fit(self, lead: Lead) -> bool:
        boxes = zip(lead.boxes, self.kept, self.required, strict=True)
        count = 0
        for box, kept, required in boxes:
            if kept and required and not box:
                return False
            count += kept and box
        return count >= self.good_fit_min


def box_matrix(leads: Sequence[Lead], width: int) -> NDArray[np.bool_]:
    if not leads:
        return np.zeros((0, width), dtype=bool)
    return np.asarray([lead.boxes for lead in leads], dtype=bool).reshape(len(leads), width)


def matrix_auc(good: NDArray[np.bool_], scores: NDArray[np.float64], y: NDArray[Any]) -> float:
    """AUC of the matrix's ordering: good fit first, then engagement score."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    span = float(scores.max() - scores.min() + 1.0)
    # The Mann-Whitney form of the AUC (ties count half): the search calls this thousands of
    # times, and sklearn's roc_auc_score spent most of a run checking its inputs.
    ranks = rankdata(good * span + (scores - scores.min()))
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _best_cutoff(
    kept: tuple[bool, ...],
    required: tuple[bool, ...],
    boxes: NDArray[np.bool_],
    scores: NDArray[np.float64],
    y: NDArray[Any],
    prefer: int,
) -> tuple[Checklist, float]:
    best: tuple[Checklist, float] | None = None
    for minimum in sorted(range(sum(kept) + 1), key=lambda m: (m != prefer, m)):
        checklist = Checklist(kept, required, minimum)
        auc = matrix_auc(checklist.good(boxes), scores, y)
        if best is None or auc > best[1] + 1e-12:
            best = (checklist, auc)
    assert best is not None
    return best


def search_checklist(
    ds: Dataset,
    leads: Sequence[Lead],
    scores: NDArray[np.float64],
    weak: Sequence[bool],
) -> Checklist:
    """The checklist that ranks ``leads`` best with these ``scores`` (hill-climbing from the
    config's own, one box at a time; ``weak`` boxes may go at no gain)."""
    width = len(ds.criteria)
    boxes = box_matrix(leads, width)
    y = np.asarray([1 if lead.converted else 0 for lead in leads])
    kept, required = (True,) * width, tuple(ds.required)
    frozen = {i for i in range(width) if len(set(boxes[:, i].tolist())) < 2}
    current, auc = _best_cutoff(kept, required, boxes, scores, y, ds.good_fit_min)
    for _ in range(MAX_STEPS):
        best: tuple[float, Checklist] | None = None
        for i in range(width):
            if i in frozen:
                continue  # all or none have it here: no evidence to change it on
            for move in ("toggle_kept", "toggle_required"):
                k, r = list(current.kept), list(current.required)
                if move == "toggle_kept":
                    k[i] = not k[i]
                    r[i] = r[i] and k[i]
                elif k[i]:
                    r[i] = not r[i]
                else:
                    continue
                candidate, value = _best_cutoff(
                    tuple(k), tuple(r), boxes, scores, y, current.good_fit_min
                )
                dropping = move == "toggle_kept" and current.kept[i]
                # Parsimony: a box goes when it tells nobody apart any more, and a box with
                # no evidence goes unless it ranks clearly better.
                free = FREE_DROP_COST if weak[i] else 1e-9
                gain = value - auc + (free + MIN_GAIN if dropping else 0.0)
                if gain > MIN_GAIN and (best is None or gain > best[0]):
                    best = (gain, candidate)
        if best is None:
            break
        current = best[1]
        auc = matrix_auc(current.good(boxes), scores, y)
    return plainest(current)


def plainest(checklist: Checklist) -> Checklist:
    """The same fit rule in the plainest words: when every box that counts is required, that
    is "all of them" (``good_fit_min`` = their number), with nothing marked required."""
    kept = [i for i, k in enumerate(checklist.kept) if k]
    if kept and all(checklist.required[i] for i in kept):
        return Checklist(checklist.kept, (False,) * len(checklist.kept), len(kept))
    return checklist


def evidence(
    ds: Dataset, leads: Sequence[Lead], coefficients: Sequence[float], chosen: Checklist
) -> tuple[BoxEvidence, ...]:
    """Each box's counts, rates and lift on ``leads``, with the verdict ``chosen`` gives it."""
    found = []
    for i, name in enumerate(ds.criteria):
        checked, unchecked = compare(leads, has_box(i))
        ratio, low, high = lift_of(checked, unchecked)
        verdict: Verdict = (
            "drop" if not chosen.kept[i] else "require" if chosen.required[i] else "keep"
        )
        found.append(
            BoxEvidence(
                name, checked, unchecked, ratio, low, high, coefficients[i],
                ds.required[i], verdict, _note(ratio, low, high, verdict),
            )
        )  # fmt: skip
    return tuple(found)


def weak_boxes(ds: Dataset, leads: Sequence[Lead]) -> list[bool]:
    """Boxes whose lift's 95 % interval spans 1 (or that no lead, or every lead, has)."""
    weak = []
    for i in range(len(ds.criteria)):
        _, low, high = lift_of(*compare(leads, has_box(i)))
        weak.append(low <= 1.0 <= high)
    return weak


def _note(lift: float | None, low: float, high: float, verdict: Verdict) -> str:
    if lift is None:
        return (
            "no evidence here (all leads or none have it, e.g. an unmapped column, or none "
            "converted): kept"
        )
    if high < 1.0:
        return "leads with it convert less, yet it ranks them higher"
    if low <= 1.0 <= high and verdict == "drop":
        return "no evidence either way (lift interval spans 1)"
    return ""
