"""Wasserstein (earth mover's) distance, in reference standard deviations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tether.drift.base import Binned, DriftMethod, shares


class Wasserstein(DriftMethod):
    """1-D Wasserstein distance between the binned distributions, over the reference's std.

    The least mass times distance needed to move the reference's histogram onto the current's:
    ``sum(|F_current - F_reference| * gap between bin positions)``, divided by ``scale``.
    Each bin's mass sits at its midpoint; the open tails sit at the lowest and highest value
    either profile saw. A pure shift of the mean by ``d`` standard deviations gives about ``d``,
    so the effect reads as "moved 0.3 sd". Prefer it when *how far* values moved matters, not
    only how many moved; it is sensitive to far outliers in the tails. Binning blurs moves
    smaller than a bin's width. The floor is 0.1 sd.

    Parameters
    ----------
    positions
        Where each bin's mass sits; set per column by :meth:`for_bins`.
    scale
        Divisor of the distance (the reference's standard deviation), set by :meth:`for_bins`.
    min_effect
        Practical floor (default :attr:`min_effect`).

    Example
    -------
    >>> w = Wasserstein(positions=[0.0, 1.0, 2.0, 3.0], scale=1.0)
    >>> round(float(w.statistic(np.array([1, 1, 1, 0]), np.array([0, 1, 1, 1]))), 4)
    1.0

    References
    ----------
    Ramdas, A., García Trillos, N., Cuturi, M. (2017). On Wasserstein two-sample testing and
    related families of nonparametric tests. Entropy 19(2), 47.
    """

    name = "wasserstein"
    kinds = frozenset({"numeric"})
    symmetric = True
    min_effect = 0.1
    tail_power = 2.0

    def __init__(
        self,
        positions: Sequence[float] | np.ndarray | None = None,
        scale: float = 1.0,
        *,
        min_effect: float | None = None,
    ) -> None:
        super().__init__(min_effect=min_effect)
        self.positions = None if positions is None else np.asarray(positions, dtype=np.float64)
        self.scale = scale

    def for_bins(self, binned: Binned) -> Wasserstein:
        return Wasserstein(binned.positions, binned.scale or 1.0, min_effect=self.min_effect)

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        gap = np.cumsum(shares(current) - shares(reference), axis=-1)[..., :-1]
        bins = gap.shape[-1] + 1
        positions = self.positions if self.positions is not None else np.arange(float(bins))
        return (np.abs(gap) * np.diff(positions)).sum(axis=-1) / self.scale
