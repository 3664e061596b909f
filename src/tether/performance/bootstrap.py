"""Bootstrap confidence intervals for metrics, all resamples of a chunk in one weighted call."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tether.errors import InputError
from tether.performance.metrics import check_inputs, check_threshold, resolve

CHUNK_BYTES = 100_000_000
"""Largest ``(b, n)`` float64 weight matrix drawn at once."""


@dataclass(frozen=True)
class Estimate:
    """A metric's value on the data and its bootstrap confidence interval.

    Parameters
    ----------
    value
        The metric on all rows (NaN when undefined, e.g. ROC AUC with one class).
    low, high
        Percentile interval bounds (NaN when more than half of the resamples were undefined).
    rows
        Number of rows the metric was computed on.

    Example
    -------
    >>> Estimate(0.9, 0.85, 0.95, 1000).to_dict()
    {'value': 0.9, 'low': 0.85, 'high': 0.95, 'rows': 1000}
    """

    value: float
    low: float
    high: float
    rows: int

    def to_dict(self) -> dict[str, float | int | None]:
        """Plain dict for JSON, with NaN as ``None``."""
        return {
            "value": _json_float(self.value),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "rows": self.rows,
        }


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def resample_counts(rng: np.random.Generator, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (b, n) with ``b`` bootstrap resamples of ``n`` rows as multinomial counts.

    Each row counts how often each row was drawn in ``n`` uniform draws with replacement, i.e.
    ``Multinomial(n, 1/n)``; drawing indices and counting them is about ten times faster than
    ``rng.multinomial`` (one binomial per cell) at a million rows. Filling a buffer reused
    across chunks saves the page faults of a fresh matrix each time.

    >>> resample_counts(np.random.default_rng(0), np.empty((2, 4))).sum(axis=1).tolist()
    [4.0, 4.0]
    """
    n = out.shape[1]
    for row in out:
        # int64 indices: bincount converts any other dtype first, which costs as much again
        row[:] = np.bincount(rng.integers(0, n, size=n, dtype=np.int64), minlength=n)
    return out


def bootstrap_metrics(
    task: str,
    y_true: Any,
    scores: Any,
    *,
    names: list[str] | None = None,
    threshold: float = 0.5,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    max_rows: int | None = None,
) -> dict[str, Estimate]:
    """Each metric's value with a percentile bootstrap confidence interval.

    The point value is the metric on all rows. Each resample draws ``n`` rows with replacement;
    instead of copying rows, a chunk of resamples is a ``(b, n)`` matrix of multinomial counts
    passed as weights, so every metric computes the whole chunk in one vectorized call (chunks
    keep the matrix under :data:`CHUNK_BYTES`). Rows are first put in score order (label order
    for multiclass), which changes no metric but lets ROC AUC skip its sort and calibration
    bins use contiguous slices. Resamples where a metric is undefined (a class absent) are
    dropped; if more than half are, the interval is NaN.

    Parameters
    ----------
    task, y_true, scores
        As in :func:`~tether.performance.metrics.compute_metrics`.
    names
        Metric names (default: all of ``task``).
    threshold
        Score at or above which a binary prediction is positive.
    n_resamples
        Number of bootstrap resamples.
    confidence
        Coverage of the interval, in (0, 1).
    seed
        Seed of ``np.random.default_rng``; the same seed gives the same intervals.
    max_rows
        Most rows resampled. Beyond it the resamples are drawn from a seeded subsample of
        ``max_rows`` rows and each interval's distances from the subsample's value are scaled
        by ``sqrt(max_rows / n)`` around the value on all rows (the m-out-of-n bootstrap with
        the root-n rescaling of smooth statistics): a tenth of the work at ten times the rows,
        for an interval as wide as the full bootstrap's up to Monte-Carlo noise.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 500)
    >>> p = 0.3 * y + 0.7 * rng.random(500)
    >>> e = bootstrap_metrics("binary", y, p, names=["roc_auc"], n_resamples=100)["roc_auc"]
    >>> round(e.value, 3), round(e.low, 3), round(e.high, 3), e.rows
    (0.858, 0.823, 0.887, 500)

    References
    ----------
    Efron, B. & Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall.
    Bickel, P. J., Götze, F. & van Zwet, W. R. (1997). Resampling fewer than n observations:
    gains, losses, and remedies for losses. Statistica Sinica, 7(1), 1-31.
    """
    y, s = check_inputs(task, y_true, scores)
    check_threshold(threshold)
    metrics = resolve(task, names)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise InputError(f"n_resamples is {n_resamples!r}; it must be a positive integer")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence is {confidence}; it must be within (0, 1)")
    if max_rows is not None and (
        isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 2
    ):
        raise InputError(f"max_rows is {max_rows!r}; it must be an integer of at least 2")
    rng = np.random.default_rng(seed)
    values = {m.name: float(m.compute(y, s, None, threshold)) for m in metrics}
    total = len(y)
    scale = 1.0
    if max_rows is not None and total > max_rows:
        keep = rng.choice(total, max_rows, replace=False)
        y, s = y[keep], s[keep]
        scale = math.sqrt(max_rows / total)
    if task != "regression":
        order = np.argsort(s if task == "binary" else y, kind="stable")
        y, s = y[order], s[order]
    n = len(y)
    centres = values if scale == 1.0 else {
        m.name: float(m.compute(y, s, None, threshold)) for m in metrics
    }  # fmt: skip
    draws = {m.name: np.empty(n_resamples) for m in metrics}
    chunk = max(1, min(n_resamples, CHUNK_BYTES // (8 * n)))
    buffer = np.empty((chunk, n))
    for start in range(0, n_resamples, chunk):
        weights = resample_counts(rng, buffer[: min(chunk, n_resamples - start)])
        for m in metrics:
            draws[m.name][start : start + len(weights)] = m.compute(y, s, weights, threshold)
    alpha = (1.0 - confidence) / 2.0
    result = {}
    for name, draw in draws.items():
        defined = draw[~np.isnan(draw)]
        if 2 * defined.size < n_resamples:
            low = high = math.nan
        else:
            low, high = (float(q) for q in np.quantile(defined, [alpha, 1.0 - alpha]))
            low = values[name] - (centres[name] - low) * scale
            high = values[name] + (high - centres[name]) * scale
        result[name] = Estimate(values[name], low, high, total)
    return result
