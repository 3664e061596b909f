"""Profile of a boolean column: how many values are true and how many false."""

from __future__ import annotations

import math

import polars as pl

from tether.profile.serialize import Fields
from tether.profile.stats import BatchStats


class BooleanSummary:
    """Counts of true and false values of a boolean column (missing values are in neither).

    Parameters
    ----------
    true
        Number of true values.
    false
        Number of false values.

    Example
    -------
    >>> frame = pl.DataFrame({"late": [True, False, True, None]})
    >>> summary = BooleanSummary()
    >>> summary.update(BatchStats(frame.select(summary.expressions("late", "")), ""))
    >>> summary.true, summary.false, round(summary.mean, 3)
    (2, 1, 0.667)
    """

    def __init__(self, true: int = 0, false: int = 0) -> None:
        self.true = true
        self.false = false

    def expressions(self, name: str, prefix: str) -> list[pl.Expr]:
        """Expressions that compute one batch's counts, named ``prefix + statistic``."""
        column = pl.col(name)
        return [column.sum().alias(prefix + "true"), (~column).sum().alias(prefix + "false")]

    def update(self, stats: BatchStats) -> None:
        self.true += stats.integer("true")
        self.false += stats.integer("false")

    @property
    def mean(self) -> float | None:
        """Share of true among the non-missing values."""
        total = self.true + self.false
        return self.true / total if total else None

    @property
    def std(self) -> float | None:
        """Standard deviation of the values read as 0 and 1 (the Bernoulli spread)."""
        mean = self.mean
        return None if mean is None else math.sqrt(mean * (1.0 - mean))

    def merge(self, other: BooleanSummary) -> BooleanSummary:
        return BooleanSummary(self.true + other.true, self.false + other.false)

    def to_dict(self) -> dict[str, object]:
        return {"true": self.true, "false": self.false}

    @classmethod
    def from_dict(cls, fields: Fields) -> BooleanSummary:
        return cls(fields.integer("true"), fields.integer("false"))
