"""Kolmogorov-Smirnov distance on binned distributions."""

from __future__ import annotations

import numpy as np

from tether.drift.base import DriftMethod, shares


class KolmogorovSmirnov(DriftMethod):
    """Kolmogorov-Smirnov distance: the largest gap between the two cumulative distributions.

    Computed on the histograms, so the gap is read only at the bin edges: it is never larger
    than the exact two-sample KS statistic on the raw values, and the test is conservative
    compared with the exact KS test (a change inside one bin is invisible). With 20 quantile
    bins the loss for smooth location or scale shifts is small. The threshold comes from
    resampling at the current sample size, not from the Kolmogorov distribution, since binned
    values break its assumptions. Prefer it as the familiar, robust location-and-shape
    detector that ignores how far values moved (only how many crossed). The floor 0.03 is the
    binned distance of about a 0.075 sd shift of a normal column, so a 0.1 sd shift (0.04)
    clears it even with sampling noise, and a 0.05 sd one (0.02) is reported as significant
    but small.

    Parameters
    ----------
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> ks = KolmogorovSmirnov()
    >>> round(float(ks.statistic(np.array([25, 25, 25, 25]), np.array([10, 20, 30, 40]))), 4)
    0.2

    References
    ----------
    Smirnov, N. (1948). Table for estimating the goodness of fit of empirical distributions.
    The Annals of Mathematical Statistics 19(2), 279-281.
    """

    name = "ks"
    kinds = frozenset({"numeric"})
    symmetric = True
    min_effect = 0.03
    tail_power = 2.0

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        gap = np.cumsum(shares(current) - shares(reference), axis=-1)
        return np.abs(gap).max(axis=-1)
