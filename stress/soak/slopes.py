"""Least-squares slopes with their 95% confidence interval: how leaks and drift are told.

A series is (seconds, value) points; the slope is reported per hour. A process restarted by
a fault starts its memory afresh, so :func:`pooled_slope` fits one slope shared by several
segments (one per process lifetime) with an intercept of their own each: a restart neither
hides a leak nor fakes one. The interval uses Student's t with the fit's degrees of freedom,
so a short, noisy series gets a wide interval and a threshold judged on the interval's lower
end does not fail on noise; samples close in time are correlated, and the interval is widened
by their residuals' lag-1 autocorrelation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

__all__ = ["Slope", "pooled_slope", "slope", "t_quantile_975"]

_HOUR_S = 3600.0
#: Student's t 97.5% quantiles for 1..30 degrees of freedom (beyond: the normal's 1.96 + a
#: first-order correction).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(dof: int) -> float:
    """The two-sided 95% critical value of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        return math.inf
    if dof <= len(_T975):
        return _T975[dof - 1]
    return 1.959964 + 2.4 / dof


@dataclass(frozen=True)
class Slope:
    """A fitted slope, in the series' unit per hour, with its 95% interval."""

    per_h: float
    low: float
    high: float
    points: int

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the series really moves."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "per_h": round(self.per_h, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "points": self.points,
        }


def slope(times_s: Sequence[float], values: Sequence[float]) -> Slope | None:
    """The least-squares slope of one series; None with fewer than 3 points or no spread."""
    return pooled_slope([list(zip(times_s, values, strict=True))])


def pooled_slope(segments: Sequence[Sequence[tuple[float, float]]]) -> Slope | None:
    """One slope over several segments, each with its own intercept (fixed effects).

    None when the segments give fewer than one degree of freedom or no spread in time.
    """
    sxx = sxy = 0.0
    centred: list[list[tuple[float, float]]] = []
    for segment in segments:
        if len(segment) < 2:
            continue
        mean_t = sum(t for t, _ in segment) / len(segment)
        mean_y = sum(y for _, y in segment) / len(segment)
        centred.append([(t - mean_t, y - mean_y) for t, y in segment])
        sxx += sum(dt * dt for dt, _ in centred[-1])
        sxy += sum(dt * dy for dt, dy in centred[-1])
    points = sum(len(segment) for segment in centred)
    if points - len(centred) - 1 < 1 or sxx <= 0:
        return None
    beta = sxy / sxx
    residuals = [[dy - beta * dt for dt, dy in segment] for segment in centred]
    # Samples a second apart are not independent (memory stays up for a while once up): the
    # interval is widened by the residuals' lag-1 autocorrelation (an AR(1) variance
    # inflation, with the effective number of points), or it would be far too narrow.
    rho = _lag1(residuals)
    inflation = (1 + rho) / (1 - rho)
    dof = max(int(points / inflation) - len(centred) - 1, 1)
    residual = sum(r * r for segment in residuals for r in segment)
    half = t_quantile_975(dof) * math.sqrt(inflation * residual / (points - len(centred) - 1) / sxx)
    return Slope(beta * _HOUR_S, (beta - half) * _HOUR_S, (beta + half) * _HOUR_S, points)


def _lag1(residuals: Sequence[Sequence[float]]) -> float:
    """Lag-1 autocorrelation of the residuals within segments, in [0, 0.95]."""
    together = sum(a * b for segment in residuals for a, b in pairwise(segment))
    alone = sum(r * r for segment in residuals for r in segment)
    if alone <= 0:
        return 0.0
    return min(max(together / alone, 0.0), 0.95)
