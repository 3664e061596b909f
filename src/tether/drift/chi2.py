"""Chi-square test of homogeneity."""

from __future__ import annotations

import numpy as np
from scipy import stats

from tether.drift.base import Binned, DriftMethod, shares

MIN_EXPECTED = 5.0
"""Smallest expected cell count for which the chi-square distribution is trusted."""


class ChiSquare(DriftMethod):
    """Pearson's chi-square test that reference and current counts come from one distribution.

    The statistic of the 2 x k table of counts, ``sum((r n_c - c n_r)^2 / (n_r n_c (r + c)))``
    over categories either side saw. With every expected count at least 5 its null distribution
    is chi-square with ``k - 1`` degrees of freedom, which accounts for the sampling noise of
    both sides, so no resampling is needed (the threshold is exact in the limit and cheap at any
    number of categories); otherwise the threshold is resampled. Prefer it for categorical
    columns: it is the classical, powerful omnibus test of a change in any category's share.
    The effect is Cramér's V of the table with both sides weighted equally,
    ``sqrt(sum((p - q)^2 / (p + q)) / 2)``, which does not depend on the two sample sizes (the
    textbook V shrinks as the current side grows); a 5 point move of a 50% category gives 0.05,
    the floor.

    Parameters
    ----------
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> chi2 = ChiSquare()
    >>> ref, cur = np.array([500.0, 500.0]), np.array([600.0, 400.0])
    >>> round(float(chi2.statistic(ref, cur)), 3)
    20.202
    >>> binned = Binned("c", "categorical", ref, cur, ["a", "b"])
    >>> round(chi2.effect(binned, 20.202), 4), float(chi2.analytic_null(binned).sf(20.202)) < 1e-5
    (0.1005, True)

    References
    ----------
    Pearson, K. (1900). On the criterion that a given system of deviations from the probable in
    the case of a correlated system of variables is such that it can be reasonably supposed to
    have arisen from random sampling. Philosophical Magazine 50(302), 157-175.

    Cramér, H. (1946). Mathematical Methods of Statistics. Princeton University Press, p. 282.
    """

    name = "chi2"
    kinds = frozenset({"categorical"})
    symmetric = True
    min_effect = 0.05

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        r = np.asarray(reference, dtype=np.float64)
        c = np.asarray(current, dtype=np.float64)
        n_r = r.sum(axis=-1, keepdims=True)
        n_c = c.sum(axis=-1, keepdims=True)
        total = r + c
        numerator = (r * n_c - c * n_r) ** 2
        denominator = n_r * n_c * total
        cells = np.divide(
            numerator, denominator, out=np.zeros(np.broadcast(r, c).shape), where=denominator > 0
        )
        return cells.sum(axis=-1)

    def effect(self, binned: Binned, statistic: float) -> float:
        p, q = shares(binned.reference), shares(binned.current)
        both = p + q
        terms = np.divide((p - q) ** 2, both, out=np.zeros_like(both), where=both > 0)
        return float(np.sqrt(terms.sum() / 2.0))

    def analytic_null(self, binned: Binned) -> object | None:
        r, c = binned.reference, binned.current
        total = r + c
        seen = total > 0
        df = int(seen.sum()) - 1
        if df < 1:
            return None
        expected = np.outer([r.sum(), c.sum()], total[seen]) / total.sum()
        if expected.min() < MIN_EXPECTED:
            return None
        return stats.chi2(df)
