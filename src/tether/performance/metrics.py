"""Model quality metrics: a small registry of weighted, vectorized metric functions.

Input conventions, shared by everything in :mod:`tether.performance`:

- task ``"binary"``: ``y_true`` holds 0/1 labels (1 = the positive class, booleans allowed);
  ``scores`` is a 1-D array of probabilities of the positive class, in ``[0, 1]``. The predicted
  label is ``scores >= threshold`` (default 0.5).
- task ``"multiclass"``: ``y_true`` holds class indices ``0..k-1``; ``scores`` is an ``(n, k)``
  array of class probabilities, taken as given (rows are not renormalized). The predicted
  label is the most probable class; ``threshold`` plays no part.
- task ``"regression"``: ``y_true`` holds finite numbers; ``scores`` holds the 1-D predictions.

Inputs are checked once at the boundary (:func:`check_inputs`): lengths that differ, NaN or
infinite scores, labels outside the task's range and empty input raise
:class:`~tether.errors.InputError`.

Every metric is computed **with weights**: ``weights`` of shape ``(n,)`` gives one value, weights
of shape ``(B, n)`` give ``B`` values in one call. With weights of ones a metric equals its
unweighted definition; with the multinomial counts of a bootstrap resample it equals the metric
of the resampled rows, so :mod:`tether.performance.bootstrap` computes all resamples of a chunk
as matrix products instead of copying rows. Ratios that are undefined (no positive rows for
recall, no predicted positives for precision, one class absent for ROC AUC) are NaN rather than
sklearn's ``zero_division`` value of 0, so a bootstrap can drop them.

The calibration metrics ``brier`` and ``ece`` are registered by
:mod:`tether.performance.calibration`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from tether.errors import InputError

TASKS = ("binary", "multiclass", "regression")
"""The kinds of models whose predictions tether can score."""

LOG_LOSS_EPS = 1e-15
"""Probabilities are clipped to ``[eps, 1 - eps]`` so a confident mistake costs ~34.5, not inf."""

Kernel = Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """One quality metric: its name, the tasks it applies to, its direction and its kernel.

    ``fn(y_true, scores, weights, threshold)`` receives arrays already checked by
    :func:`check_inputs`, weights of shape ``(n,)`` or ``(B, n)``, and returns an array of
    shape ``()`` or ``(B,)``.

    Parameters
    ----------
    name
        Registry key, e.g. ``"roc_auc"``.
    tasks
        Tasks the metric applies to (see :data:`TASKS`).
    higher_is_better
        Whether a larger value means a better model.
    best
        The value of perfect predictions.
    fn
        The weighted kernel.
    doc
        One-line definition, for reports.

    Example
    -------
    >>> metric = METRICS["accuracy"]
    >>> y, p = np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4])
    >>> metric.compute(y, p).round(4).tolist()
    0.6667
    >>> metric.compute(y, p, np.array([[1.0, 1.0, 1.0], [0.0, 3.0, 0.0]])).round(4).tolist()
    [0.6667, 1.0]
    """

    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    best: float
    fn: Kernel
    doc: str

    def compute(
        self,
        y_true: np.ndarray,
        scores: np.ndarray,
        weights: np.ndarray | None = None,
        threshold: float = 0.5,
    ) -> np.ndarray:
        """The metric for each row of ``weights`` (all ones when ``None``)."""
        if weights is None:
            weights = np.ones(len(y_true))
        return np.asarray(self.fn(y_true, scores, weights, threshold), dtype=np.float64)


METRICS: dict[str, Metric] = {}
"""Every metric by name; adding a metric is writing its kernel and registering it."""


def register(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS` and return it."""
    METRICS[metric.name] = metric
    return metric


def check_task(task: str) -> None:
    """Raise ``InputError`` unless ``task`` is one of :data:`TASKS`."""
    if task not in TASKS:
        raise InputError(f"task {task!r} is not supported; choose from {list(TASKS)}")


def check_inputs(task: str, y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``scores`` as arrays in the conventions of ``task``, or ``InputError``.

    Labels come back as int64 (float64 for regression), scores as float64.

    >>> y, s = check_inputs("binary", [True, False], [0.7, 0.1])
    >>> y.tolist(), s.tolist()
    ([1, 0], [0.7, 0.1])
    >>> check_inputs("binary", [0, 2], [0.7, 0.1])
    Traceback (most recent call last):
    ...
    tether.errors.InputError: y_true holds 2 at row 1; binary labels must be 0 or 1
    """
    check_task(task)
    y = np.asarray(y_true)
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"scores must be numbers for task {task!r}") from None
    if y.ndim != 1:
        raise InputError(f"y_true has shape {y.shape}; it must be 1-D")
    if y.size == 0:
        raise InputError("y_true is empty; metrics need at least one row")
    wanted = 2 if task == "multiclass" else 1
    if s.ndim != wanted:
        shape = "(n, k) class probabilities" if task == "multiclass" else "a 1-D array"
        raise InputError(f"scores has shape {s.shape}; task {task!r} needs {shape}")
    if len(s) != len(y):
        raise InputError(
            f"y_true has {len(y)} rows but scores has {len(s)}; they must have one row each"
        )
    check_finite("scores", s)
    try:
        y_float = y.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"y_true has dtype {y.dtype}; {task} labels must be numbers") from None
    if task == "regression":
        check_finite("y_true", y_float)
        return y_float, s
    check_probabilities(s)
    k = 2 if task == "binary" else s.shape[1]
    if k < 2:
        raise InputError(f"scores has {k} column; multiclass scores need one column per class")
    bad = ~((y_float == np.round(y_float)) & (y_float >= 0) & (y_float < k))
    if bad.any():
        row = int(np.argmax(bad))
        rule = "must be 0 or 1" if task == "binary" else f"must be integers 0..{k - 1}"
        raise InputError(f"y_true holds {y[row].item()!r} at row {row}; {task} labels {rule}")
    return y_float.astype(np.int64), s


def _first(bad: np.ndarray, values: np.ndarray) -> tuple[int, float]:
    """Row and value of the first flagged entry."""
    index = tuple(np.argwhere(bad)[0])
    return int(index[0]), float(values[index])


def check_finite(name: str, values: np.ndarray) -> None:
    """Raise ``InputError`` naming the first row of ``values`` that is NaN or infinite."""
    bad = ~np.isfinite(values)
    if bad.any():
        row, value = _first(bad, values)
        raise InputError(f"{name} has {value} at row {row}; {name} must be finite numbers")


def check_probabilities(scores: np.ndarray) -> None:
    """Raise ``InputError`` naming the first score outside ``[0, 1]``."""
    bad = (scores < 0) | (scores > 1)
    if bad.any():
        row, value = _first(bad, scores)
        raise InputError(f"scores has {value} at row {row}; probabilities must be within [0, 1]")


def check_weights(weights: Any, n: int, *, batched: bool = True) -> np.ndarray:
    """``weights`` as float64, shape ``(n,)`` (or ``(B, n)`` if ``batched``), or ``InputError``."""
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("weights must be numbers") from None
    shapes = "(n,) or (B, n)" if batched else "(n,)"
    if w.ndim not in ((1, 2) if batched else (1,)) or w.shape[-1] != n:
        raise InputError(f"weights has shape {w.shape}; it must be {shapes} with n = {n}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise InputError(f"weights has {w[bad][0]}; weights must be finite and non-negative")
    return w


def check_threshold(threshold: float) -> None:
    """Raise ``InputError`` unless ``0 <= threshold <= 1``."""
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold is {threshold}; it must be within [0, 1]")


def resolve(task: str, names: list[str] | None) -> list[Metric]:
    """The metrics ``names`` (default: :func:`default_metrics`), checked against ``task``."""
    if names is None:
        names = default_metrics(task)
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise InputError(f"unknown metrics {unknown}; choose from {sorted(METRICS)}")
    wrong = [name for name in names if task not in METRICS[name].tasks]
    if wrong:
        raise InputError(
            f"metrics {wrong} do not apply to task {task!r}; choose from {default_metrics(task)}"
        )
    return [METRICS[name] for name in dict.fromkeys(names)]


def ratio(numerator: Any, denominator: Any) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is not positive."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    return np.divide(num, den, out=out, where=den > 0)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (n,) under each row of ``weights`` (n,) or (B, n)."""
    both = weights @ np.column_stack([values.astype(np.float64), np.ones(len(values))])
    return ratio(both[..., 0], both[..., 1])


def group_sums(
    weights: np.ndarray, groups: np.ndarray, size: int, values: np.ndarray | None = None
) -> np.ndarray:
    """Sums of ``weights * values`` by group (codes ``0..size-1``), shape ``(..., size)``.

    Rows already in group order (the bootstrap puts them in score order, which bins follow) are
    summed as contiguous slices; otherwise one sparse product does it, to avoid copying the
    ``(B, n)`` weights into group order.

    >>> group_sums(np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]]), np.array([0, 0, 2]), 3).tolist()
    [[3.0, 0.0, 3.0], [1.0, 0.0, 0.0]]
    """
    vals = np.ones(len(groups)) if values is None else values.astype(np.float64)
    if np.all(groups[1:] >= groups[:-1]):
        bounds = np.searchsorted(groups, np.arange(size + 1))
        out = np.zeros((*weights.shape[:-1], size))
        for code in np.flatnonzero(np.diff(bounds)):
            part = slice(bounds[code], bounds[code + 1])
            out[..., code] = weights[..., part] @ vals[part]
        return out
    indicator = sparse.csr_array(
        (vals, (np.arange(len(groups)), groups)), shape=(len(groups), size)
    )
    return np.asarray(weights @ indicator)


def predicted(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Predicted labels: ``scores >= threshold`` (binary) or the most probable class."""
    if scores.ndim == 2:
        return scores.argmax(axis=1)
    return (scores >= threshold).astype(np.int64)


def confusion(
    y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted binary ``tp, fp, tn, fn`` for each row of ``weights``."""
    pred = scores >= threshold
    positive = y == 1
    # one product reads the (B, n) weights once for all four sums, not once per sum
    cells = np.column_stack(
        [positive & pred, ~positive & pred, positive & ~pred, np.ones_like(pred)]
    )
    tp, fp, fn, total = np.moveaxis(weights @ cells.astype(np.float64), -1, 0)
    return tp, fp, total - tp - fp - fn, fn


def _roc_auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

    The weighted Mann-Whitney statistic. Rows are sorted once by score (skipped when already
    sorted); each positive is credited with the negative weight below it, plus half the
    negative weight tied with it, from cumulative sums, so ``B`` weight rows cost O(B n) after
    the sort.

    References
    ----------
    Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a receiver
    operating characteristic (ROC) curve. Radiology, 143(1), 29-36.
    """
    if not np.all(scores[1:] >= scores[:-1]):
        order = np.argsort(scores, kind="stable")
        y, scores, weights = y[order], scores[order], weights[..., order]
    labels = y.astype(np.float64)
    starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
    if len(starts) == len(scores):
        # no ties: a positive row's cumulative negative weight is exactly the weight below it
        below = weights * (1.0 - labels)
        np.cumsum(below, axis=-1, out=below)
        negatives = below[..., -1].copy()
        below *= weights
        wins = below @ labels
    else:
        total = np.add.reduceat(weights, starts, axis=-1)
        positive = np.add.reduceat(weights * labels, starts, axis=-1)
        negative = total - positive
        wins = (positive * (np.cumsum(negative, axis=-1) - 0.5 * negative)).sum(axis=-1)
        negatives = negative.sum(axis=-1)
    return ratio(wins, (weights @ labels) * negatives)


def _accuracy(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """Share of rows whose predicted label is the true label."""
    return weighted_mean(predicted(scores, threshold) == y, weights)


def _precision(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """tp / (tp + fp): share of predicted positives that are positive."""
    tp, fp, _, _ = confusion(y, scores, weights, threshold)
    return ratio(tp, tp + fp)


def _recall(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """tp / (tp + fn): share of positives predicted positive."""
    tp, _, _, fn = confusion(y, scores, weights, threshold)
    return ratio(tp, tp + fn)


def _f1(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """2 tp / (2 tp + fp + fn): harmonic mean of precision and recall."""
    tp, fp, _, fn = confusion(y, scores, weights, threshold)
    return ratio(2 * tp, 2 * tp + fp + fn)


def _macro_f1(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """Unweighted mean over classes of one-vs-rest F1, over classes true or predicted."""
    k = scores.shape[1]
    pred = predicted(scores, threshold)
    tp = group_sums(weights, y, k, (pred == y).astype(np.float64))
    support = group_sums(weights, y, k) + group_sums(weights, pred, k)
    present = support > 0
    f1 = np.where(present, 2 * tp / np.where(present, support, 1.0), 0.0)
    return ratio(f1.sum(axis=-1), present.sum(axis=-1))


def _log_loss(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """Mean negative log-likelihood of the true labels, probabilities clipped to 1e-15."""
    if scores.ndim == 2:
        p_true = scores[np.arange(len(y)), y]
    else:
        p_true = np.where(y == 1, scores, 1.0 - scores)
    return weighted_mean(-np.log(np.clip(p_true, LOG_LOSS_EPS, 1.0)), weights)


def _mae(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """Mean absolute error."""
    return weighted_mean(np.abs(y - scores), weights)


def _rmse(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """Root mean squared error."""
    return np.sqrt(weighted_mean((y - scores) ** 2, weights))


def _r2(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float) -> Any:
    """1 - residual sum of squares / total sum of squares; NaN for a constant target."""
    centered = y - y.mean()
    squares = weights @ centered**2
    spread = squares - ratio((weights @ centered) ** 2, weights.sum(axis=-1))
    # a resample of equal targets leaves rounding noise, not spread
    spread = np.where(spread > 1e-12 * squares, spread, 0.0)
    return 1.0 - ratio(weights @ (y - scores) ** 2, spread)


for _metric in (
    Metric("roc_auc", ("binary",), True, 1.0, _roc_auc, "area under the ROC curve"),
    Metric("accuracy", ("binary", "multiclass"), True, 1.0, _accuracy, "share of correct labels"),
    Metric("precision", ("binary",), True, 1.0, _precision, "tp / (tp + fp)"),
    Metric("recall", ("binary",), True, 1.0, _recall, "tp / (tp + fn)"),
    Metric("f1", ("binary",), True, 1.0, _f1, "2 tp / (2 tp + fp + fn)"),
    Metric("macro_f1", ("multiclass",), True, 1.0, _macro_f1, "mean one-vs-rest F1 over classes"),
    Metric("log_loss", ("binary", "multiclass"), False, 0.0, _log_loss, "mean -log P(true)"),
    Metric("mae", ("regression",), False, 0.0, _mae, "mean absolute error"),
    Metric("rmse", ("regression",), False, 0.0, _rmse, "root mean squared error"),
    Metric("r2", ("regression",), True, 1.0, _r2, "coefficient of determination"),
):
    register(_metric)


def default_metrics(task: str) -> list[str]:
    """Names of the registered metrics that apply to ``task``, in registry order.

    >>> default_metrics("regression")
    ['mae', 'rmse', 'r2']
    """
    check_task(task)
    return [name for name, metric in METRICS.items() if task in metric.tasks]


def compute_metrics(
    task: str,
    y_true: Any,
    scores: Any,
    *,
    threshold: float = 0.5,
    names: list[str] | None = None,
    weights: Any = None,
) -> dict[str, float]:
    """Each metric of ``names`` (default: all of ``task``) on the given predictions.

    Parameters
    ----------
    task
        ``"binary"``, ``"multiclass"`` or ``"regression"`` (see the module docstring).
    y_true, scores
        Labels and scores in the conventions of ``task``.
    threshold
        Score at or above which a binary prediction is positive.
    names
        Metric names from :data:`METRICS`.
    weights
        Optional non-negative case weights of shape ``(n,)``; for ``(B, n)`` weights call
        :meth:`Metric.compute` directly.

    Example
    -------
    >>> result = compute_metrics("binary", [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> {name: round(value, 3) for name, value in result.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'roc_auc': 0.75, 'accuracy': 0.5, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5,
     'log_loss': 0.511, 'brier': 0.185, 'ece': 0.35}
    """
    y, s = check_inputs(task, y_true, scores)
    check_threshold(threshold)
    metrics = resolve(task, names)
    w = None if weights is None else check_weights(weights, len(y), batched=False)
    return {metric.name: float(metric.compute(y, s, w, threshold)) for metric in metrics}


def confusion_counts(
    y_true: Any, scores: Any, threshold: float = 0.5, weights: Any = None
) -> dict[str, float]:
    """Binary confusion counts ``tp, fp, tn, fn`` (weighted sums when ``weights`` is given).

    Parameters
    ----------
    y_true, scores
        Binary labels and positive-class probabilities.
    threshold
        Score at or above which a prediction is positive.
    weights
        Optional non-negative case weights of shape ``(n,)``.

    Example
    -------
    >>> confusion_counts([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    {'tp': 1, 'fp': 1, 'tn': 1, 'fn': 1}
    """
    y, s = check_inputs("binary", y_true, scores)
    check_threshold(threshold)
    w = np.ones(len(y)) if weights is None else check_weights(weights, len(y), batched=False)
    counts = dict(zip(("tp", "fp", "tn", "fn"), confusion(y, s, w, threshold), strict=True))
    if weights is None:
        return {key: round(float(value)) for key, value in counts.items()}
    return {key: float(value) for key, value in counts.items()}
