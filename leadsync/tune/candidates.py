"""Boxes the ICP does not have yet: attribute values whose leads convert clearly better.

For every textual fit attribute value held by enough training leads (``MIN_LEADS``, and not by
nearly all of them), the leads with it are compared with the rest: each conversion rate with
its 95 % Wilson interval and the lift with its interval. A value is a candidate when even the
low end of its lift interval is above ``MIN_LIFT_LOW`` and no box of the config already picks
out nearly the same leads. Candidates are shown for the admin to judge (a box is a statement
about the customer, not only a correlation), never added to the suggestion on their own.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from leadsync.report.dataset import Dataset, Lead
from leadsync.report.stats import Share, share
from leadsync.tune.checklist import lift_of

#: Fewest leads a value needs to be weighed at all.
MIN_LEADS = 30
#: The low end of the lift interval a candidate must clear.
MIN_LIFT_LOW = 1.2
#: A box (or rule) that picks out this share of the same leads (Jaccard) already says it.
SAME_LEADS = 0.8
#: At most this many candidates, strongest evidence first.
MOST = 8


@dataclass(frozen=True, slots=True)
class ValueEvidence:
    """An attribute value's training leads against the rest: conversion on each side with its
    95 % Wilson interval, and the lift (with it over without) with its interval."""

    attribute: str
    value: str
    with_value: Share
    without: Share
    lift: float
    lift_low: float
    lift_high: float

    @classmethod
    def of(
        cls, attribute: str, value: str, members: set[int], converted: Sequence[bool]
    ) -> Self | None:
        """The evidence of the leads numbered ``members`` (``converted[n]``: lead n converted);
        ``None`` when no lift can be told (nobody converted on one side)."""
        hits = sum(converted[n] for n in members)
        with_value = share(hits, len(members))
        without = share(sum(converted) - hits, len(converted) - len(members))
        lift, low, high = lift_of(with_value, without)
        if lift is None:
            return None
        return cls(attribute, value, with_value, without, lift, low, high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "value": self.value,
            "with_value": self.with_value.to_dict(),
            "without": self.without.to_dict(),
            "lift": self.lift,
            "lift_low": self.lift_low,
            "lift_high": None if math.isinf(self.lift_high) else self.lift_high,
        }


@dataclass(frozen=True, slots=True)
class CandidateBox(ValueEvidence):
    """A value whose leads converted clearly better: a box the admin may add."""

    def toml(self) -> str:
        """The ``[[icp.criteria]]`` entry an admin would add for it."""
        name = f"{self.attribute}: {self.value}".replace('"', "'")
        value = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return (
            f'[[icp.criteria]]\nname = "{name}"\nattribute = "{self.attribute}"\n'
            f'operator = "one_of"\nvalues = ["{value}"]'
        )


def candidate_boxes(ds: Dataset, leads: Sequence[Lead]) -> tuple[CandidateBox, ...]:
    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    shown: dict[tuple[str, str], str] = {}
    for n, lead in enumerate(leads):
        for attribute, value in lead.values:
            key = (attribute, value.casefold())
            holders[key].add(n)
            shown.setdefault(key, value)
    boxes = [{n for n, lead in enumerate(leads) if lead.boxes[i]} for i in range(len(ds.criteria))]
    converted = [bool(lead.converted) for lead in leads]
    found = []
    for key, members in holders.items():
        if len(members) < MIN_LEADS or len(leads) - len(members) < MIN_LEADS:
            continue
        if any(jaccard(members, box) >= SAME_LEADS for box in boxes):
            continue
        candidate = CandidateBox.of(key[0], shown[key], members, converted)
        if candidate is not None and candidate.lift_low > MIN_LIFT_LOW:
            found.append(candidate)
    found.sort(key=lambda c: (-c.lift_low, c.attribute, c.value))
    return tuple(found[:MOST])


def jaccard(a: set[int], b: set[int]) -> float:
    """The share of the leads in either set that are in both."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0
