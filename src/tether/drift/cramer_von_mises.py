"""Cramér-von Mises distance on binned distributions."""

from __future__ import annotations

import numpy as np

from tether.drift.base import DriftMethod, shares


class CramerVonMises(DriftMethod):
    """Cramér-von Mises distance: the mean squared gap between the cumulative distributions.

    ``sum(w * (F_current - F_reference)^2)`` over bin edges, each gap weighted by the pooled
    mass ``w = (p + q) / 2`` of the bin it closes (ratio-free, so symmetric). Where
    Kolmogorov-Smirnov takes the single largest gap, this integrates all of them, which makes it
    more powerful against location and scale shifts that spread over many bins. Binning makes
    it conservative, like binned KS. A 0.1 sd shift of a normal column gives about 0.0009; the
    floor is 0.0008.

    Parameters
    ----------
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> cvm = CramerVonMises()
    >>> round(float(cvm.statistic(np.array([25, 25, 25, 25]), np.array([10, 20, 30, 40]))), 4)
    0.0191

    References
    ----------
    Anderson, T. W. (1962). On the distribution of the two-sample Cramér-von Mises criterion.
    The Annals of Mathematical Statistics 33(3), 1148-1159.
    """

    name = "cramer_von_mises"
    kinds = frozenset({"numeric"})
    symmetric = True
    min_effect = 0.0008

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        p, q = shares(reference), shares(current)
        gap = np.cumsum(q - p, axis=-1)
        return (gap * gap * (p + q) / 2.0).sum(axis=-1)
