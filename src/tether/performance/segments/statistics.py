"""The tests a weak segment passes: Welch z against the rest, z against its own expectation,
contrasts of several cells (the interaction of two conditions) and Benjamini-Hochberg over
many candidates; all on ``(5, m)`` aggregates of :mod:`~tether.performance.segments.losses`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from tether.performance.segments.losses import EXPECTED, LOSS, ROWS, SQUARES, VARIANCE

Estimate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""An effect of each segment of an aggregate and the variance of its estimate."""


def contrast(
    cells: Sequence[np.ndarray], signs: Sequence[float], estimate: Estimate
) -> tuple[np.ndarray, np.ndarray]:
    """``sum(sign * estimate(cell))`` over disjoint ``cells`` and its z, the variance the sum
    of the cells' (NaN where a cell has under 2 rows)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        effect, spread = np.zeros(cells[0].shape[1]), np.zeros(cells[0].shape[1])
        for cell, sign in zip(cells, signs, strict=True):
            mean, variance = estimate(cell)
            effect = effect + sign * mean
            spread = spread + variance
        z = _ratio(effect, np.sqrt(spread))
    small = np.logical_or.reduce([cell[ROWS] < 2 for cell in cells])
    return effect, np.where(small, np.nan, z)


def welch(segment: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gap of the mean loss of ``segment`` over ``other`` and its Welch z (NaN under 2 rows).

    >>> a = np.array([[4.0], [3.0], [3.0], [0.0], [0.0]])  # 4 rows, 3 losses of 1
    >>> b = np.array([[4.0], [1.0], [1.0], [0.0], [0.0]])
    >>> gap, z = welch(a, b)
    >>> float(gap[0]), round(float(z[0]), 3)
    (0.5, 1.414)
    """
    return contrast((segment, other), (1.0, -1.0), mean_loss)


def interaction(
    child: np.ndarray,
    parent: np.ndarray,
    extra: np.ndarray,
    total: np.ndarray,
    estimate: Estimate,
) -> tuple[np.ndarray, np.ndarray]:
    """How much more the ``extra`` condition adds inside ``parent`` than outside it, and its z:
    the interaction contrast ``child - (parent - child) - (extra - child) + (total - parent -
    extra + child)`` of ``estimate`` over the four disjoint cells (``child`` = ``parent`` and
    ``extra``), from the aggregates of the child, the parent, the extra condition alone and all
    rows. Independent (additive) effects of the parent and the extra condition give 0.

    >>> cell = lambda rows, rate: np.array([[rows], [rows * rate], [rows * rate], [0], [0]])
    >>> rest, other, outside = cell(256, 0.25), cell(256, 0.25), cell(1024, 0.125)
    >>> for child in (cell(64, 0.375), cell(64, 0.625)):  # additive, then interacting
    ...     parent, extra = child + rest, child + other
    ...     effect, z = interaction(child, parent, extra, parent + other + outside, mean_loss)
    ...     print(float(effect[0]), round(float(z[0]), 2))
    0.0 0.0
    0.25 3.43
    """
    cells = (child, parent - child, extra - child, total - parent - extra + child)
    return contrast(cells, (1.0, -1.0, -1.0, 1.0), estimate)


def mean_excess(shift: float, empirical: bool) -> Estimate:
    """The mean excess (loss over expected loss) of each segment and its variance. The
    expected loss is fixed, so the excess varies as the loss does: the variance is that of the
    mean loss (of ``loss - expected`` when ``empirical``), which stays right where the loss is
    not what the scores expect; ``shift`` is the loss's centering."""

    def estimate(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = part[ROWS]
        excess = part[LOSS] + n * shift - part[EXPECTED]
        if empirical:
            spread = np.maximum(part[VARIANCE] - excess**2 / n, 0.0) / (n - 1)
            return excess / n, spread / n
        return excess / n, mean_loss(part)[1]

    return estimate


def flipped(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of labels flipped beyond the scores in each segment and its variance, for a 0/1
    loss whose expected value ``q`` is at most 1/2.

    Flipping a share ``f`` of labels makes the error ``q + f (1 - 2q)``, so
    ``sum(loss - q) / sum(1 - 2q)`` estimates ``f`` wherever the scores are, sure or not.
    """
    room = part[ROWS] - 2.0 * part[EXPECTED]
    share = (part[LOSS] - part[EXPECTED]) / room
    return share, mean_loss(part)[1] * (part[ROWS] / room) ** 2


def mean_loss(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (centered) loss of each segment and its variance, from sums of squares."""
    n, total = part[ROWS], part[LOSS]
    mean = total / n
    spread = part[SQUARES] - total * mean
    # rounding leaves ~1e-16 of the mean square where the loss is constant
    spread = np.where(spread > 1e-12 * np.abs(part[SQUARES]), spread, 0.0)
    return mean, spread / (n - 1) / n


def excess_z(aggs: np.ndarray, shift: float, empirical: bool) -> np.ndarray:
    """z of each segment's loss over its expected loss: ``(sum loss - sum expected) /
    sqrt(sum variance)``, the variance summed per row or, when ``empirical``, ``n`` times the
    sample variance of ``loss - expected`` in the segment; ``shift`` is the loss's centering."""
    n = aggs[ROWS]
    excess = aggs[LOSS] + n * shift - aggs[EXPECTED]
    with np.errstate(divide="ignore", invalid="ignore"):
        sample = (aggs[VARIANCE] - excess**2 / n) / (n - 1) * n
        spread = sample if empirical else aggs[VARIANCE]
        return _ratio(excess, np.sqrt(np.maximum(spread, 0.0)))


def _ratio(effect: np.ndarray, se: np.ndarray) -> np.ndarray:
    """``effect / se``, +-inf where a nonzero effect has no noise, 0 where both are 0."""
    sign = np.where(effect > 0, np.inf, np.where(effect < 0, -np.inf, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, effect / se, sign)


def p_value(z: np.ndarray) -> np.ndarray:
    """One-sided p-value of a standard normal ``z`` (1 where z is undefined)."""
    return np.where(np.isnan(z), 1.0, stats.norm.sf(z))


def q_values(p: np.ndarray, m: int) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values of ``p`` among ``m >= len(p)`` hypotheses, the
    untested ones counted with p = 1.

    >>> q_values(np.array([0.01, 0.04, 0.03]), 4).round(3).tolist()
    [0.04, 0.053, 0.053]
    """
    if len(p) == 0:
        return p
    padded = np.concatenate([p, np.ones(m - len(p))])
    return np.asarray(stats.false_discovery_control(padded, method="bh"))[: len(p)]


def step_up(p: np.ndarray, m: int, alpha: float) -> np.ndarray:
    """Which of ``p`` Benjamini-Hochberg rejects at ``alpha`` among ``m`` hypotheses, the
    others counted with p = 1."""
    rejected = np.zeros(len(p), dtype=bool)
    small = p <= alpha  # the others cannot be rejected
    rejected[small] = q_values(p[small], m) <= alpha
    return rejected
