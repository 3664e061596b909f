"""Jensen-Shannon distance."""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from tether.drift.base import KINDS, DriftMethod, shares


class JensenShannon(DriftMethod):
    """Jensen-Shannon distance, base 2: the square root of the JS divergence, in ``[0, 1]``.

    The divergence is the mean Kullback-Leibler divergence of both distributions from their
    average ``m = (p + q) / 2``; it is finite with empty bins (no smoothing needed), symmetric,
    and its square root is a metric. Prefer it as a bounded, symmetric omnibus measure for
    numeric bins or categories alike; it is less sensitive than PSI to changes in tiny bins. The
    floor 0.04 is about a 0.1 sd shift of a normal column or a 5 point move of a 50% category.

    Parameters
    ----------
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> js = JensenShannon()
    >>> round(float(js.statistic(np.array([50, 50]), np.array([60, 40]))), 4)
    0.0854
    >>> float(js.statistic(np.array([1, 0]), np.array([0, 1])))
    1.0

    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Transactions on
    Information Theory 37(1), 145-151.

    Endres, D. M., Schindelin, J. E. (2003). A new metric for probability distributions. IEEE
    Transactions on Information Theory 49(7), 1858-1860.
    """

    name = "jensen_shannon"
    kinds = KINDS
    symmetric = True
    min_effect = 0.04
    tail_power = 2.0

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        p = shares(reference)
        q = shares(current)
        m = (p + q) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = xlogy(p, p) + xlogy(q, q) - 2.0 * xlogy(m, m)
        divergence = inside.sum(axis=-1) / (2.0 * np.log(2.0))
        return np.sqrt(np.clip(divergence, 0.0, 1.0))
