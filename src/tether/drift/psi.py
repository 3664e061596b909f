"""Population Stability Index."""

from __future__ import annotations

import numpy as np

from tether.drift.base import KINDS, SmoothedDriftMethod


class PSI(SmoothedDriftMethod):
    """Population Stability Index: ``sum((q - p) * ln(q / p))`` over bins.

    The symmetrized Kullback-Leibler divergence between the reference shares ``p`` and the
    current shares ``q``, long used in credit scoring. Prefer it when its users already read
    PSI; it weighs a change in a small bin as much as its log-ratio, so it reacts to new mass in
    thin tails and rare categories more than Jensen-Shannon does. Empty bins would make it
    infinite, so ``smoothing`` is added to every count first (0.5, the Jeffreys-Perks value,
    negligible at thousands of rows). The floor 0.01 is about a 0.1 sd shift of a normal column;
    the folklore bands (0.1 "moderate", 0.25 "major") are shifts of about 0.3 and 0.5 sd.

    Parameters
    ----------
    smoothing
        Count added to every bin before taking shares.
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> psi = PSI()
    >>> round(float(psi.statistic(np.array([50, 50]), np.array([60, 40]))), 4)
    0.0397

    References
    ----------
    Yurdakul, B. (2018). Statistical properties of population stability index. PhD thesis,
    Western Michigan University.
    """

    name = "psi"
    kinds = KINDS
    symmetric = True
    min_effect = 0.01

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        p, q = self.smoothed(reference, current)
        return ((q - p) * np.log(q / p)).sum(axis=-1)
