"""Estimated against realized performance, once a window's labels have arrived."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import polars as pl

from tether.errors import InputError
from tether.performance.estimation.base import PerformanceEstimate

SCHEMA = {
    "window": pl.Int64,
    "metric": pl.String,
    "estimated": pl.Float64,
    "realized": pl.Float64,
    "difference": pl.Float64,
    "z": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "diverged": pl.Boolean,
    "rows": pl.Int64,
}
"""Columns of :func:`divergence`."""


def divergence(
    estimates: PerformanceEstimate | Sequence[PerformanceEstimate],
    realized: Mapping[str, float] | Sequence[Mapping[str, float]],
) -> pl.DataFrame:
    """Where the realized metrics left the estimated band: the concept drift signal.

    An estimator's band holds the realized metric with probability about that of ``sigmas``
    normal standard deviations (99.7% at 3) if its one assumption holds, that ``P(y | x)`` is
    unchanged since the reference. A realized metric outside the band (``diverged``) is
    therefore evidence of concept drift, or of a shift into inputs the reference never
    covered. One row per window and metric: ``difference = realized - estimated``,
    ``z = difference / std`` (the estimate's standard deviation), the band, and ``diverged``;
    metrics undefined on either side are null and never diverged.

    Parameters
    ----------
    estimates
        One window's :class:`~tether.performance.estimation.base.PerformanceEstimate`, or
        one per window.
    realized
        The realized metrics of the same window(s), e.g. from the estimator's ``realized``.

    Example
    -------
    >>> from tether.performance.estimation.base import MetricEstimate
    >>> band = MetricEstimate("accuracy", 0.90, 0.01, 0.87, 0.93, 0.85, 0.95, False)
    >>> estimate = PerformanceEstimate(1000, {"accuracy": band})
    >>> result = divergence(estimate, {"accuracy": 0.80})
    >>> result.select("realized", pl.col("z").round(3), "diverged").rows()
    [(0.8, -10.0, True)]
    """
    if isinstance(estimates, PerformanceEstimate):
        estimates = [estimates]
    if isinstance(realized, Mapping):
        realized = [realized]
    if len(estimates) != len(realized):
        raise InputError(
            f"divergence: {len(estimates)} estimates but {len(realized)} realized windows; "
            "pass one realized mapping per estimate"
        )
    records = []
    for window, (estimate, actual) in enumerate(zip(estimates, realized, strict=True)):
        missing = [name for name in estimate.metrics if name not in actual]
        if missing:
            raise InputError(
                f"divergence: realized metrics of window {window} lack {missing}; "
                f"it has {sorted(actual)}"
            )
        for name, m in estimate.metrics.items():
            value = float(actual[name])
            difference = value - m.value
            defined = not (math.isnan(difference) or math.isnan(m.std))
            records.append(
                {
                    "window": window,
                    "metric": name,
                    "estimated": m.value,
                    "realized": value,
                    "difference": difference,
                    "z": difference / m.std if defined and m.std > 0 else math.nan,
                    "low": m.low,
                    "high": m.high,
                    "diverged": defined and not m.low <= value <= m.high,
                    "rows": estimate.rows,
                }
            )
    frame = pl.DataFrame(records, schema=SCHEMA)
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))
