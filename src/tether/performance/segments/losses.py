"""The per-row loss a search looks at, what the model expected of it, and their sums by cell."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from tether.errors import InputError
from tether.performance.metrics import (
    check_finite,
    check_inputs,
    check_probabilities,
    check_task,
    check_threshold,
    predicted,
)

# Rows of an aggregate (one column per cell or segment).
ROWS, LOSS, SQUARES, EXPECTED, VARIANCE = range(5)
"""Row count, sum of the (centered) loss, sum of its squares, sum of the expected loss, sum of
its variance (or of the squared excess when no variance is known)."""


def error_loss(task: str, y_true: Any, scores: Any, *, threshold: float = 0.5) -> np.ndarray:
    """Per-row loss to search: 1.0 where the predicted label is wrong, else 0.0 (classification),
    or the absolute error (regression); inputs as in :mod:`tether.performance.metrics`.

    >>> error_loss("binary", [0, 1, 1], [0.2, 0.4, 0.9]).tolist()
    [0.0, 1.0, 0.0]
    >>> error_loss("regression", [1.0, 2.0], [1.5, 2.0]).tolist()
    [0.5, 0.0]
    """
    y, s = check_inputs(task, y_true, scores)
    check_threshold(threshold)
    if task == "regression":
        return np.abs(y - s)
    return (predicted(s, threshold) != y).astype(np.float64)


def expected_error(
    task: str, scores: Any, *, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row probability of an error that calibrated scores imply, and its variance.

    Binary: ``1 - p`` where ``p >= threshold`` (predicted positive), else ``p``; multiclass:
    ``1 - max p``; the Bernoulli variance is ``q (1 - q)``. This is CBPE row by row: without
    labels, ``find(frame, expected_error(...)[0])`` searches the estimated performance.

    >>> q, v = expected_error("binary", [0.9, 0.3, 0.5])
    >>> q.round(2).tolist(), v.round(2).tolist()
    ([0.1, 0.3, 0.5], [0.09, 0.21, 0.25])
    """
    check_task(task)
    if task == "regression":
        raise InputError(
            "expected_error needs class probabilities, which task 'regression' has none of; "
            "pass an estimated loss per row (e.g. DLE's) as expected instead"
        )
    check_threshold(threshold)
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"scores must be numbers for task {task!r}") from None
    wanted = 2 if task == "multiclass" else 1
    if s.ndim != wanted or len(s) == 0:
        shape = "(n, k) class probabilities" if task == "multiclass" else "a 1-D array"
        raise InputError(f"scores has shape {s.shape}; task {task!r} needs {shape}, not empty")
    check_finite("scores", s)
    check_probabilities(s)
    q = 1.0 - s.max(axis=1) if task == "multiclass" else np.where(s >= threshold, 1.0 - s, s)
    return q, q * (1.0 - q)


@dataclass(frozen=True)
class RowLosses:
    """The checked per-row values a search sums by cell (see :meth:`check`)."""

    n: int
    shift: float  # subtracted from the loss so that sums of squares do not cancel
    binary: bool  # a 0/1 loss: its squares are itself
    weights: dict[int, np.ndarray]  # aggregate row -> per-row value
    expected: bool
    empirical: bool  # the excess's variance is estimated within each segment
    flips: bool = False  # a 0/1 loss expected at most 1/2: a binary classifier's errors

    @classmethod
    def check(cls, n: int, loss: Any, expected: Any, variance: Any) -> RowLosses:
        """``loss``, ``expected`` and ``variance`` of ``n`` rows, or ``InputError``.

        Without ``variance``, a 0/1 loss whose ``expected`` values are all probabilities
        (within [0, 1]) varies as a Bernoulli variable, ``expected (1 - expected)``; any other
        loss (a regression loss that happens to be 0/1 with an expected loss above 1 too) has
        its excess's variance estimated within each segment.
        """
        value = _vector("loss", loss, n)
        binary = bool(np.all((value == 0.0) | (value == 1.0)))
        shift = 0.0 if binary else float(value.mean())
        centered = value - shift
        weights = {LOSS: centered}
        if not binary:
            weights[SQUARES] = centered**2
        empirical = False
        if expected is None:
            if variance is not None:
                raise InputError("variance was given without expected; pass both or neither")
        else:
            expect = _vector("expected", expected, n)
            weights[EXPECTED] = expect
            if variance is not None:
                spread = _vector("variance", variance, n)
                if (spread < 0).any():
                    row = int(np.argmax(spread < 0))
                    raise InputError(
                        f"variance has {spread[row]} at row {row}; variances must be >= 0"
                    )
                weights[VARIANCE] = spread
            elif binary and bool(((expect >= 0) & (expect <= 1)).all()):
                weights[VARIANCE] = expect * (1.0 - expect)
            else:
                empirical = True
                weights[VARIANCE] = (value - expect) ** 2
        flips = (
            binary
            and expected is not None
            and bool(((weights[EXPECTED] >= 0) & (weights[EXPECTED] <= 0.5)).all())
        )
        return cls(n, shift, binary, weights, expected is not None, empirical, flips)

    def aggregate(self, cells: np.ndarray, size: int, weights: dict[int, np.ndarray]) -> np.ndarray:
        """The ``(5, size)`` sums of ``weights`` (these rows' values) by cell code."""
        out = np.zeros((5, size))
        out[ROWS] = np.bincount(cells, minlength=size)
        for row, values in weights.items():
            out[row] = np.bincount(cells, weights=values, minlength=size)
        if self.binary:
            out[SQUARES] = out[LOSS]
        return out

    def total(self, mask: np.ndarray) -> np.ndarray:
        """The ``(5,)`` sums of the rows of a boolean ``mask`` (one matrix-vector product,
        several times faster than a bincount per value)."""
        rows = list(self.weights)
        out = np.zeros(5)
        out[ROWS] = np.count_nonzero(mask)
        out[rows] = self.stacked @ mask.astype(np.float64)
        if self.binary:
            out[SQUARES] = out[LOSS]
        return out

    @functools.cached_property
    def stacked(self) -> np.ndarray:
        """The per-row values as one ``(len(weights), n)`` matrix."""
        return np.stack(list(self.weights.values()))


def _vector(name: str, values: Any, n: int) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers, one per row of the frame") from None
    if array.shape != (n,):
        raise InputError(
            f"{name} has shape {array.shape}; it must be 1-D with one value per row of the "
            f"frame ({n} rows)"
        )
    check_finite(name, array)
    return array
