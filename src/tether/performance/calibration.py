"""Calibration: do predicted probabilities match observed frequencies?

Binary scores (1-D) are read as P(positive) and compared with the positive rate; multiclass
scores (2-D) by their top label: the largest probability (the confidence) against whether that
class is the true one (Guo et al., 2017). Both calibration measures here are also registered as
metrics (``brier``, ``ece``) and take ``(n,)`` or ``(B, n)`` weights like every metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.performance.metrics import (
    Metric,
    check_inputs,
    check_weights,
    group_sums,
    ratio,
    register,
    weighted_mean,
)

STRATEGIES = ("uniform", "quantile")
"""How bins are cut: equal width on [0, 1], or equal counts of rows."""


def _task(scores: Any) -> str:
    return "multiclass" if np.ndim(scores) == 2 else "binary"


def _confidence(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The probability each row states and the 0/1 outcome it is about."""
    if scores.ndim == 2:
        top = scores.argmax(axis=1)
        return scores[np.arange(len(y)), top], (top == y).astype(np.float64)
    return scores, y.astype(np.float64)


def _bins(confidence: np.ndarray, bins: int, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin code of each row and the bin edges (lower bound inclusive, last bin closed).

    Quantile edges come from the rows themselves, unweighted, so every bootstrap resample is
    binned alike; tied quantiles are merged, so there may be fewer bins than asked.
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise InputError(f"bins is {bins!r}; it must be a positive integer")
    if strategy == "uniform":
        inner = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    elif strategy == "quantile":
        inner = np.unique(np.quantile(confidence, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        inner = inner[(inner > 0.0) & (inner < 1.0)]
    else:
        raise InputError(f"strategy is {strategy!r}; choose from {list(STRATEGIES)}")
    return np.searchsorted(inner, confidence, side="right"), np.r_[0.0, inner, 1.0]


def _ece(
    y: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    bins: int = 10,
    strategy: str = "uniform",
) -> np.ndarray:
    confidence, outcome = _confidence(y, scores)
    codes, edges = _bins(confidence, bins, strategy)
    gaps = group_sums(weights, codes, len(edges) - 1, confidence - outcome)
    return ratio(np.abs(gaps).sum(axis=-1), weights.sum(axis=-1))


def _brier(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    if scores.ndim == 2:
        # sum_k (p_k - [k = y])^2 without materializing the one-hot matrix
        squares = (scores**2).sum(axis=1) - 2.0 * scores[np.arange(len(y)), y] + 1.0
        return weighted_mean(squares, weights)
    return weighted_mean((scores - y) ** 2, weights)


def _result(value: np.ndarray) -> float | np.ndarray:
    return float(value) if value.ndim == 0 else value


def expected_calibration_error(
    y_true: Any,
    scores: Any,
    *,
    bins: int = 10,
    strategy: str = "uniform",
    weights: Any = None,
) -> float | np.ndarray:
    """Expected calibration error: the row-weighted mean gap between score and outcome per bin.

    ``ECE = sum_b (W_b / W) |mean score_b - observed rate_b|`` over bins of the scores, i.e.
    ``sum_b |sum_{i in b} w_i (p_i - y_i)| / W``. 0 is perfect; even a calibrated model shows
    a positive ECE of order ``sqrt(bins / n)`` from sampling noise, so compare it against its
    bootstrap interval rather than 0.

    Parameters
    ----------
    y_true, scores
        Binary labels with P(positive), or class indices with ``(n, k)`` probabilities (then
        the top-label confidence is compared with correctness).
    bins
        Number of bins.
    strategy
        ``"uniform"`` (equal width on [0, 1]) or ``"quantile"`` (equal numbers of rows).
    weights
        Optional case weights ``(n,)``, or ``(B, n)`` for ``B`` values at once.

    Example
    -------
    >>> round(expected_calibration_error([0, 1, 1, 1], [0.2, 0.7, 0.9, 0.8]), 3)
    0.2

    References
    ----------
    Naeini, M. P., Cooper, G. F. & Hauskrecht, M. (2015). Obtaining well calibrated
    probabilities using Bayesian binning. AAAI.
    Guo, C., Pleiss, G., Sun, Y. & Weinberger, K. Q. (2017). On calibration of modern neural
    networks. ICML.
    """
    y, s = check_inputs(_task(scores), y_true, scores)
    w = np.ones(len(y)) if weights is None else check_weights(weights, len(y))
    return _result(_ece(y, s, w, bins, strategy))


def brier_score(y_true: Any, scores: Any, weights: Any = None) -> float | np.ndarray:
    """Brier score: mean squared difference between probabilities and outcomes.

    Binary: ``mean (p - y)^2`` in [0, 1]. Multiclass: ``mean sum_k (p_k - [y = k])^2`` in
    [0, 2]. 0 is perfect; it rewards both calibration and sharpness.

    Parameters
    ----------
    y_true, scores
        Binary labels with P(positive), or class indices with ``(n, k)`` probabilities.
    weights
        Optional case weights ``(n,)``, or ``(B, n)`` for ``B`` values at once.

    Example
    -------
    >>> round(brier_score([0, 1], [0.2, 0.6]), 3)
    0.1

    References
    ----------
    Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly
    Weather Review, 78(1), 1-3.
    """
    y, s = check_inputs(_task(scores), y_true, scores)
    w = np.ones(len(y)) if weights is None else check_weights(weights, len(y))
    return _result(_brier(y, s, w))


def reliability_curve(
    y_true: Any, scores: Any, *, bins: int = 10, strategy: str = "uniform"
) -> pl.DataFrame:
    """Mean score against observed rate per bin: the data of a reliability diagram.

    Columns ``bin, lower, upper, mean_score, observed_rate, rows``; bins without rows are left
    out. A calibrated model has ``mean_score ≈ observed_rate`` in every bin, within about
    ``sqrt(rate (1 - rate) / rows)``.

    Parameters
    ----------
    y_true, scores
        Binary labels with P(positive), or class indices with ``(n, k)`` probabilities.
    bins
        Number of bins.
    strategy
        ``"uniform"`` or ``"quantile"``, as in :func:`expected_calibration_error`.

    Example
    -------
    >>> curve = reliability_curve([0, 1, 1, 1], [0.2, 0.7, 0.9, 0.8], bins=2)
    >>> curve.select("bin", "lower", "upper", "observed_rate", "rows").rows()
    [(0, 0.0, 0.5, 0.0, 1), (1, 0.5, 1.0, 1.0, 3)]
    """
    y, s = check_inputs(_task(scores), y_true, scores)
    confidence, outcome = _confidence(y, s)
    codes, edges = _bins(confidence, bins, strategy)
    size = len(edges) - 1
    rows = np.bincount(codes, minlength=size)
    kept = np.flatnonzero(rows)
    return pl.DataFrame(
        {
            "bin": kept,
            "lower": edges[kept],
            "upper": edges[kept + 1],
            "mean_score": np.bincount(codes, confidence, size)[kept] / rows[kept],
            "observed_rate": np.bincount(codes, outcome, size)[kept] / rows[kept],
            "rows": rows[kept],
        },
        schema={
            "bin": pl.Int64,
            "lower": pl.Float64,
            "upper": pl.Float64,
            "mean_score": pl.Float64,
            "observed_rate": pl.Float64,
            "rows": pl.Int64,
        },
    )


def _brier_metric(y: np.ndarray, s: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Brier score (the threshold plays no part)."""
    return _brier(y, s, w)


def _ece_metric(y: np.ndarray, s: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """ECE on 10 equal-width bins (the threshold plays no part)."""
    return _ece(y, s, w)


register(
    Metric(
        "brier",
        ("binary", "multiclass"),
        False,
        0.0,
        _brier_metric,
        "mean squared difference between probabilities and outcomes",
    )
)
register(
    Metric(
        "ece",
        ("binary", "multiclass"),
        False,
        0.0,
        _ece_metric,
        "expected calibration error, 10 equal-width bins",
    )
)
