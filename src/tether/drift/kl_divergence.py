"""Kullback-Leibler divergence of the current distribution from the reference."""

from __future__ import annotations

import numpy as np

from tether.drift.base import KINDS, SmoothedDriftMethod


class KLDivergence(SmoothedDriftMethod):
    """Kullback-Leibler divergence ``KL(current || reference) = sum(q * ln(q / p))`` in nats.

    How many nats a code built for the reference wastes per current value. Prefer it when the
    question is "how surprising is the current data under the reference"; it is not symmetric,
    and it punishes current mass where the reference had almost none, which makes it sensitive
    to new values in tails. Counts are smoothed by ``smoothing`` (0.5) so empty bins stay
    finite. The floor 0.005 nats is about a 0.1 sd shift of a normal column.

    Parameters
    ----------
    smoothing
        Count added to every bin before taking shares.
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> kl = KLDivergence()
    >>> round(float(kl.statistic(np.array([50, 50]), np.array([60, 40]))), 4)
    0.0197

    References
    ----------
    Kullback, S., Leibler, R. A. (1951). On information and sufficiency. The Annals of
    Mathematical Statistics 22(1), 79-86.
    """

    name = "kl_divergence"
    kinds = KINDS
    symmetric = False
    min_effect = 0.005

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        p, q = self.smoothed(reference, current)
        return (q * np.log(q / p)).sum(axis=-1)
