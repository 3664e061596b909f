"""Hellinger distance."""

from __future__ import annotations

import numpy as np

from tether.drift.base import KINDS, DriftMethod, shares


class Hellinger(DriftMethod):
    """Hellinger distance ``sqrt(1 - sum(sqrt(p * q)))``, in ``[0, 1]``.

    One minus the Bhattacharyya overlap of the two distributions, square-rooted: a bounded,
    symmetric metric that needs no smoothing and, like Jensen-Shannon, grows with the square
    root of a chi-square-like divergence. Prefer it when a bounded metric with a simple
    closed form is wanted (it relates to total variation by ``H^2 <= TV <= sqrt(2) H``). The
    floor 0.035 is about a 0.1 sd shift of a normal column.

    Parameters
    ----------
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> hellinger = Hellinger()
    >>> round(float(hellinger.statistic(np.array([50, 50]), np.array([60, 40]))), 4)
    0.0712

    References
    ----------
    Hellinger, E. (1909). Neue Begründung der Theorie quadratischer Formen von unendlichvielen
    Veränderlichen. Journal für die reine und angewandte Mathematik 136, 210-271.
    """

    name = "hellinger"
    kinds = KINDS
    symmetric = True
    min_effect = 0.035
    tail_power = 2.0

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        overlap = np.sqrt(shares(reference) * shares(current)).sum(axis=-1)
        return np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0))
