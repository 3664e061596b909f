"""Count, mean and spread of a stream of values, mergeable across batches."""

from __future__ import annotations

import math


class Moments:
    """Count, mean and sum of squared deviations (M2) of a set of values.

    Two sets are combined with the parallel formula of Chan, Golub and LeVeque, which stays
    accurate where the textbook ``sum(x**2) - n * mean**2`` loses every digit to cancellation.
    Merging in any order gives the same mean and variance up to float rounding.

    Parameters
    ----------
    count
        Number of values.
    mean
        Their mean (``None`` when there are none).
    m2
        Sum of squared deviations from the mean.

    Example
    -------
    >>> a, b = Moments(2, 1.5, 0.5), Moments(2, 3.5, 0.5)   # [1, 2] and [3, 4]
    >>> merged = a.merge(b)
    >>> merged.mean, round(merged.std, 6)
    (2.5, 1.290994)

    References
    ----------
    Chan, T. F., Golub, G. H., LeVeque, R. J. (1979). Updating formulae and a pairwise algorithm
    for computing sample variances. Stanford CS tech report STAN-CS-79-773.
    """

    def __init__(self, count: int = 0, mean: float | None = None, m2: float = 0.0) -> None:
        self.count = count
        self.mean = mean
        self.m2 = m2

    def merge(self, other: Moments) -> Moments:
        if other.count == 0 or other.mean is None:
            return Moments(self.count, self.mean, self.m2)
        if self.count == 0 or self.mean is None:
            return Moments(other.count, other.mean, other.m2)
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return Moments(count, mean, m2)

    @property
    def std(self) -> float | None:
        """Sample standard deviation (``n - 1`` in the denominator); ``None`` below two values."""
        if self.count < 2:
            return None
        return math.sqrt(max(self.m2, 0.0) / (self.count - 1))
