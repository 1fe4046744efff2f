"""Small-sample honest rates: a share with its Wilson interval, and a lift with its interval.

Both come from SciPy (``binomtest(...).proportion_ci(method="wilson")`` and
``contingency.relative_risk``); only a two-by-two table with an empty cell, which SciPy leaves
without a finite interval, gets the usual Haldane correction (half a lead added to each cell).
SciPy is imported when a rate is first computed: importing ``scipy.stats`` takes ~2 s, which
every ``leadsync`` command paid at start-up while the CLI imported the report commands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Share:
    """``k`` of ``n`` converted, with its 95% Wilson interval (``None`` when ``n`` is 0)."""

    k: int
    n: int
    low: float | None
    high: float | None

    @property
    def rate(self) -> float | None:
        return self.k / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "rate": self.rate, "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class Lift:
    """Conversion when a signal is present over conversion when it is absent, with its 95%
    interval; ``None`` values when either group is empty."""

    ratio: float | None
    low: float | None
    high: float | None

    @property
    def predicts(self) -> bool | None:
        """True when the interval lies wholly above 1, False when it includes 1 or lies below;
        ``None`` when there is nothing to tell."""
        if self.low is None or self.high is None:
            return None
        return self.low > 1.0

    @property
    def includes_one(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low <= 1.0 <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "low": self.low, "high": self.high}


def share(k: int, n: int) -> Share:
    """``k`` successes of ``n`` with the Wilson score interval."""
    if n <= 0:
        return Share(0, 0, None, None)
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Share(k, n, float(ci.low), float(ci.high))


def lift(k_with: int, n_with: int, k_without: int, n_without: int) -> Lift:
    """Relative risk of converting with the signal against without it (Katz log interval)."""
    if n_with <= 0 or n_without <= 0:
        return Lift(None, None, None)
    if 0 < k_with < n_with and 0 < k_without < n_without:
        from scipy.stats.contingency import relative_risk

        result = relative_risk(k_with, n_with, k_without, n_without)
        ci = result.confidence_interval(confidence_level=CONFIDENCE)
        return Lift(float(result.relative_risk), float(ci.low), float(ci.high))
    if k_with == 0 and k_without == 0:
        return Lift(None, None, None)
    # An empty (or full) cell: add half a lead to every cell so the log interval exists.
    a, b = k_with + 0.5, n_with + 1.0
    c, d = k_without + 0.5, n_without + 1.0
    ratio = (a / b) / (c / d)
    from scipy.stats import norm

    spread = float(norm.ppf(0.5 + CONFIDENCE / 2)) * math.sqrt(1 / a - 1 / b + 1 / c - 1 / d)
    return Lift(ratio, ratio * math.exp(-spread), ratio * math.exp(spread))
