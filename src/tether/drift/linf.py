"""L-infinity distance between category shares."""

from __future__ import annotations

import numpy as np

from tether.drift.base import DriftMethod, shares


class LInfinity(DriftMethod):
    """L-infinity distance: the largest absolute change of any one category's share.

    Reads directly as "some category moved by this many points", which makes it the easiest to
    explain and to set a floor on. It ignores how many categories moved, so several small moves
    weigh less than in chi-square or Jensen-Shannon. The floor is a 5 point move.

    Parameters
    ----------
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> linf = LInfinity()
    >>> round(float(linf.statistic(np.array([50, 30, 20]), np.array([40, 30, 30]))), 4)
    0.1

    References
    ----------
    Evidently AI. L-infinity distance (Chebyshev distance) for categorical drift detection.
    https://docs.evidentlyai.com/metrics/explainer_drift
    """

    name = "linf"
    kinds = frozenset({"categorical"})
    symmetric = True
    min_effect = 0.05
    tail_power = 2.0

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        return np.abs(shares(current) - shares(reference)).max(axis=-1)
