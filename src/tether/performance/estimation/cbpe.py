"""Confidence-Based Performance Estimation (CBPE) for classifiers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from tether.errors import FormatError, InputError, UnsupportedVersionError
from tether.performance.estimation.base import (
    PerformanceEstimate,
    PerformanceEstimator,
    check_cost,
    json_float,
)
from tether.performance.metrics import (
    LOG_LOSS_EPS,
    check_finite,
    check_inputs,
    check_probabilities,
    check_threshold,
)

FORMAT = "tether-cbpe"
FORMAT_VERSION = 1

SUPPORTED = {
    "binary": ("roc_auc", "accuracy", "precision", "recall", "f1", "brier", "log_loss"),
    "multiclass": ("accuracy", "macro_f1", "brier", "log_loss"),
}
"""Metrics CBPE can estimate, per task."""

DEFAULT_METRICS = {
    "binary": ("roc_auc", "accuracy", "precision", "recall", "f1"),
    "multiclass": ("accuracy", "macro_f1"),
}
"""Metrics estimated when ``metrics`` is ``None``."""

CALIBRATE = ("auto", True, False)


class CBPE(PerformanceEstimator):
    """Confidence-Based Performance Estimation: a classifier's metrics from its scores alone.

    If the scores are calibrated probabilities, each unlabeled row is a fractional positive:
    with probability ``p`` its label is 1. The expected confusion matrix of a window is then
    ``tp = sum of p`` and ``fp = sum of 1 - p`` over the rows predicted positive (``fn`` and
    ``tn`` likewise over those predicted negative), and every metric follows from it; the
    expected ROC AUC counts, for every pair of rows ordered by the model's score, the
    probability that the higher one is positive and the lower one negative. Scores that are
    not calibrated on the reference are first mapped through isotonic regression. Whether to
    is decided by cross-fitting, so no fit is judged on its own rows (``calibrate="auto"``:
    calibrate when held-out isotonic probabilities have a lower Brier score than the raw
    ones); a calibrated model keeps its scores, sparing it the isotonic steps and their bias
    at the ends of the score range, where covariate shift tends to move the scores.
    Given the window's scores, each label is an independent Bernoulli draw, so the standard
    deviation of the realized metric around the estimate is computed exactly (mean losses,
    precision) or to first order (ROC AUC, recall, F1), at this window's size and mix of
    scores rather than the reference's. Multiclass models (``(n, k)`` probabilities) are
    calibrated one-vs-rest and renormalized.

    The assumption is no concept drift: ``P(y | x)`` unchanged, so that the reference's
    calibration still holds in the window. It holds under covariate shift only as far as the
    model's score captures ``P(y | x)``; regions of inputs the reference lacks, or a score
    calibrated on average but not within groups, bias the estimate. A realized metric outside
    the band once labels arrive is a concept drift signal (see
    :func:`~tether.performance.estimation.divergence.divergence`).

    Parameters
    ----------
    metrics
        Metric names from :data:`SUPPORTED`; default :data:`DEFAULT_METRICS` of the task.
    threshold
        Score at or above which a binary prediction is positive.
    cost
        Cost per outcome, keys ``tp, fp, tn, fn`` (binary) or ``error`` (multiclass); adds the
        expected cost to each estimate.
    calibrate
        ``"auto"`` (decided on the reference), ``True`` or ``False``.
    chunk_size
        Rows per reference chunk for the alert thresholds; default a tenth of the reference.
    sigmas
        Width of the band and of the thresholds, in standard deviations.
    min_effect
        Smallest distance of an alert threshold from the reference mean, in metric units.
    folds
        Folds of the cross-fitted calibration.
    seed
        Seed of the fold assignment.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> def window(n, shift=0.0):
    ...     x = rng.normal(shift, 1.0, n)
    ...     p = 1 / (1 + np.exp(-2 * x))  # calibrated: the label is drawn from the score
    ...     return (rng.random(n) < p).astype(int), p
    >>> y_ref, p_ref = window(20_000)
    >>> cbpe = CBPE(metrics=["roc_auc", "accuracy"]).fit(y_ref, p_ref)
    >>> y_new, p_new = window(5_000, shift=1.0)  # covariate shift, no concept drift
    >>> result, realized = cbpe.estimate(p_new), cbpe.realized(y_new, p_new)
    >>> for name, m in result.metrics.items():
    ...     print(f"{name}: estimated {m.value:.3f} [{m.low:.3f}, {m.high:.3f}], "
    ...           f"realized {realized[name]:.3f}, alert {m.alert}")
    roc_auc: estimated 0.872 [0.856, 0.888], realized 0.872, alert False
    accuracy: estimated 0.841 [0.827, 0.856], realized 0.838, alert True

    References
    ----------
    NannyML (2022). Confidence-based performance estimation (CBPE). NannyML documentation,
    "How it works: performance estimation". https://nannyml.readthedocs.io
    Kivimäki, J., Białek, J., Nurminen, J. K. & Kuberski, W. (2024). Confidence-based
    estimators for predictive performance in model monitoring. arXiv:2407.08649.
    Zadrozny, B. & Elkan, C. (2002). Transforming classifier scores into accurate multiclass
    probability estimates. KDD.
    """

    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass")
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "log_loss": (0.0, math.inf),
        "brier": (0.0, 2.0),
    }

    def __init__(
        self,
        metrics: tuple[str, ...] | list[str] | None = None,
        *,
        threshold: float = 0.5,
        cost: Mapping[str, float] | None = None,
        calibrate: str | bool = "auto",
        chunk_size: int | None = None,
        sigmas: float = 3.0,
        min_effect: float = 0.01,
        folds: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__(metrics, chunk_size=chunk_size, sigmas=sigmas, min_effect=min_effect)
        self.threshold = threshold
        self.cost = cost
        self.calibrate = calibrate
        self.folds = folds
        self.seed = seed

    def _check_params(self) -> None:
        super()._check_params()
        check_threshold(self.threshold)
        if not any(self.calibrate is c or self.calibrate == c for c in CALIBRATE):
            raise InputError(f"CBPE: calibrate is {self.calibrate!r}; choose from {CALIBRATE}")
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise InputError(f"CBPE: folds is {self.folds!r}; it must be an integer >= 2")

    # ---------------------------------------------------------------------------- fitting

    def fit(self, y_true: Any, scores: Any) -> CBPE:
        """Learn the calibration and the alert thresholds from the labeled reference.

        ``scores`` are positive-class probabilities ``(n,)`` or class probabilities ``(n, k)``,
        ``y_true`` the labels (0/1 or class indices), both of the model's validation data.
        """
        self._check_params()
        task = "multiclass" if np.ndim(scores) == 2 else "binary"
        y, s = check_inputs(task, y_true, scores)
        self.metric_names_ = (
            list(DEFAULT_METRICS[task])
            if self.metrics is None
            else self._metric_names(task, SUPPORTED[task])
        )
        self.cost_ = check_cost(self.cost, task)
        classes = 2 if task == "binary" else s.shape[1]
        counts = np.bincount(y, minlength=classes)
        present = np.flatnonzero(counts)
        if present.size < 2:
            raise InputError(
                f"CBPE: y_true holds only class {int(present[0])} in the reference; "
                "calibration and metrics need at least two classes"
            )
        if counts[present].min() < self.folds:
            raise InputError(
                f"CBPE: the reference has {int(counts[present].min())} rows of class "
                f"{int(present[np.argmin(counts[present])])}; cross-fitting needs at least "
                f"folds={self.folds} of each class present"
            )
        self.task_ = task
        self.classes_ = classes
        raw_brier, calibrated_brier, calibrators = _brier(y, s), math.nan, None
        if self.calibrate is not False:
            columns = s[:, None] if task == "binary" else s
            calibrators, held_out = self._cross_fit(y, columns)
            calibrated_brier = _brier(
                y, held_out[:, 0] if task == "binary" else _normalize(held_out, s)
            )
        applied = calibrated_brier < raw_brier if self.calibrate == "auto" else bool(self.calibrate)
        self.calibration_ = {
            "applied": bool(applied),
            "raw_brier": raw_brier,
            "calibrated_brier": json_float(calibrated_brier),
        }
        self.calibrator_ = calibrators if applied else None
        self._fit_thresholds(y, s, self.threshold)
        return self

    def _cross_fit(
        self, y: np.ndarray, columns: np.ndarray
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
        """Isotonic maps per column fitted on all rows, and cross-fitted held-out probabilities.

        The held-out probabilities (each row mapped by a fit that did not see it) decide
        whether calibrating helps without the optimism of judging a fit on its own rows. The
        map kept is fitted on every row: a window's metric averages the map over many rows,
        so the map's bias, which more data reduces, matters more than its row-level noise,
        which averages out. A fitted isotonic regression is piecewise linear between its
        breakpoints, so it is stored as two arrays and applied with ``np.interp``.
        """
        from sklearn.isotonic import IsotonicRegression
        from sklearn.model_selection import StratifiedKFold

        def isotonic(x: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            fit = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, target)
            return fit.X_thresholds_, fit.y_thresholds_

        splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        splits = list(splitter.split(columns, y))
        held_out = np.empty_like(columns)
        calibrators = []
        for k in range(columns.shape[1]):
            target = (y == (1 if columns.shape[1] == 1 else k)).astype(np.float64)
            for train, test in splits:
                grid, mapped = isotonic(columns[train, k], target[train])
                held_out[test, k] = np.interp(columns[test, k], grid, mapped)
            calibrators.append(isotonic(columns[:, k], target))
        return calibrators, held_out

    def calibrated(self, scores: Any) -> np.ndarray:
        """The window's scores as the probabilities CBPE uses (calibrated when fitted so)."""
        self._check_fitted()
        return self._calibrate(self._check_scores(scores))

    def _calibrate(self, s: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return s
        if s.ndim == 1:
            grid, mapped = self.calibrator_[0]
            return np.interp(s, grid, mapped)
        columns = np.column_stack(
            [np.interp(s[:, k], grid, mapped) for k, (grid, mapped) in enumerate(self.calibrator_)]
        )
        return _normalize(columns, s)

    def _check_scores(self, scores: Any) -> np.ndarray:
        try:
            s = np.asarray(scores, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("CBPE: scores must be numbers") from None
        shape = "(n,)" if self.task_ == "binary" else f"(n, {self.classes_})"
        wanted = (1,) if self.task_ == "binary" else (2,)
        if s.ndim not in wanted or (s.ndim == 2 and s.shape[1] != self.classes_):
            raise InputError(
                f"CBPE: scores has shape {s.shape}; this {self.task_} model needs {shape}"
            )
        if len(s) == 0:
            raise InputError("CBPE: scores is empty; a window needs at least one prediction")
        check_finite("scores", s)
        check_probabilities(s)
        return s

    # ---------------------------------------------------------------------------- estimating

    def estimate(self, scores: Any) -> PerformanceEstimate:
        """Estimated metrics, expected confusion counts and cost of one window of scores."""
        self._check_fitted()
        s = self._check_scores(scores)
        p = self._calibrate(s)
        if self.task_ == "binary":
            values, stds, confusion, cost = _binary(
                p, s, self.threshold, self.metric_names_, self.cost_
            )
        else:
            values, stds, cost = _multiclass(p, s, self.metric_names_, self.cost_)
            confusion = None
        return self._estimate(len(s), values, stds, confusion, cost)

    # ---------------------------------------------------------------------------- state

    def to_dict(self) -> dict[str, Any]:
        """The fitted estimator as plain JSON values (isotonic maps as breakpoint arrays)."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": {
                "metrics": None if self.metrics is None else list(self.metrics),
                "threshold": self.threshold,
                "cost": None if self.cost is None else dict(self.cost),
                "calibrate": self.calibrate,
                "chunk_size": self.chunk_size,
                "sigmas": self.sigmas,
                "min_effect": self.min_effect,
                "folds": self.folds,
                "seed": self.seed,
            },
            "state": {
                **self._reference_state(),
                "classes": self.classes_,
                "calibration": self.calibration_,
                "calibrator": None
                if self.calibrator_ is None
                else [[grid.tolist(), mapped.tolist()] for grid, mapped in self.calibrator_],
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CBPE:
        """A fitted estimator from :meth:`to_dict`'s output; ``FormatError`` when malformed."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise FormatError(f"CBPE state: format must be {FORMAT!r}, got {got!r}")
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise FormatError(
                f"CBPE state: format_version must be an integer >= 1, got {version!r}"
            )
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"CBPE state has format_version {version}, this tether reads up to "
                f"{FORMAT_VERSION}; upgrade tether to read it"
            )
        try:
            params, state = dict(data["params"]), data["state"]
            estimator = cls(**params)
            estimator._check_params()
            estimator._load_reference_state(state)
            estimator.classes_ = int(state["classes"])
            estimator.calibration_ = dict(state["calibration"])
            estimator.cost_ = check_cost(estimator.cost, estimator.task_)
            maps = state["calibrator"]
            estimator.calibrator_ = (
                None
                if maps is None
                else [
                    (np.asarray(grid, dtype=np.float64), np.asarray(mapped, dtype=np.float64))
                    for grid, mapped in maps
                ]
            )
        except (KeyError, TypeError, ValueError, InputError) as exc:
            raise FormatError(f"CBPE state: missing or malformed field ({exc})") from None
        return estimator


def _normalize(columns: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Rows of one-vs-rest probabilities rescaled to sum to 1 (the raw row where all are 0)."""
    total = columns.sum(axis=1, keepdims=True)
    return np.where(total > 0, columns / np.where(total > 0, total, 1.0), raw)


def _brier(y: np.ndarray, probabilities: np.ndarray) -> float:
    if probabilities.ndim == 1:
        return float(np.mean((probabilities - y) ** 2))
    squares = (probabilities**2).sum(axis=1) - 2.0 * probabilities[np.arange(len(y)), y] + 1.0
    return float(squares.mean())


def _mean_loss(p: np.ndarray, loss_if_1: np.ndarray, loss_if_0: np.ndarray) -> tuple[float, float]:
    """Expected mean of a per-row loss and its standard deviation, labels ~ Bernoulli(p)."""
    n = len(p)
    value = float((p * loss_if_1 + (1.0 - p) * loss_if_0).mean())
    return value, math.sqrt(float((p * (1.0 - p) * (loss_if_1 - loss_if_0) ** 2).sum())) / n


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _binary(
    p: np.ndarray,
    s: np.ndarray,
    threshold: float,
    names: list[str],
    cost: dict[str, float] | None,
) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, Any] | None]:
    """Expected binary metrics, their standard deviations, confusion counts and cost.

    Given the scores, ``tp = sum(Y)`` over predicted positives and ``fn = sum(Y)`` over
    predicted negatives are independent sums of Bernoulli(p) labels with variances ``vt`` and
    ``vf``; ratios of them (recall, F1) get their variance by the delta method.
    """
    n = len(p)
    predicted = s >= threshold
    variance = p * (1.0 - p)
    tp, fn = float(p[predicted].sum()), float(p[~predicted].sum())
    positives = int(predicted.sum())
    fp, tn = positives - tp, (n - positives) - fn
    vt, vf = float(variance[predicted].sum()), float(variance[~predicted].sum())
    values: dict[str, float] = {}
    stds: dict[str, float] = {}
    for name in names:
        if name == "roc_auc":
            values[name], stds[name] = _roc_auc(p, s)
        elif name == "accuracy":
            values[name], stds[name] = (tp + tn) / n, math.sqrt(vt + vf) / n
        elif name == "precision":
            values[name] = _ratio(tp, positives)
            stds[name] = _ratio(math.sqrt(vt), positives)
        elif name == "recall":
            total = tp + fn
            values[name] = _ratio(tp, total)
            stds[name] = _ratio(math.sqrt(fn**2 * vt + tp**2 * vf), total**2)
        elif name == "f1":
            total = positives + tp + fn
            values[name] = _ratio(2 * tp, total)
            stds[name] = _ratio(2 * math.sqrt((positives + fn) ** 2 * vt + tp**2 * vf), total**2)
        elif name == "brier":
            values[name], stds[name] = _mean_loss(p, (1.0 - s) ** 2, s**2)
        elif name == "log_loss":
            clipped = np.clip(s, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
            values[name], stds[name] = _mean_loss(p, -np.log(clipped), -np.log1p(-clipped))
    confusion = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    expected_cost = None
    if cost is not None:
        total = sum(cost.get(k, 0.0) * confusion[k] for k in confusion)
        # each row's cost moves by (cost if positive - cost if negative) with its label
        spread_pos = (cost.get("tp", 0.0) - cost.get("fp", 0.0)) ** 2 * vt
        spread_neg = (cost.get("fn", 0.0) - cost.get("tn", 0.0)) ** 2 * vf
        expected_cost = {
            "total": total,
            "per_prediction": total / n,
            "std": math.sqrt(spread_pos + spread_neg),
            "rows": n,
            "outcomes": dict(confusion),
        }
    return values, stds, confusion, expected_cost


def _roc_auc(p: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Expected ROC AUC of scores ``s`` when row ``i`` is positive with probability ``p_i``.

    ``W``, the expected number of (positive, negative) pairs ranked right (ties count half),
    over ``D``, the expected number of such pairs; both exclude a row paired with itself. Rows
    are ordered by the model's own score, not the calibrated one, whose isotonic steps tie
    rows the model tells apart. The standard deviation is the first-order (delta method) one:
    ``dAUC / dY_k`` at ``Y = p``, weighted by each label's Bernoulli variance.
    """
    n = len(s)
    if not np.all(s[1:] >= s[:-1]):
        order = np.argsort(s, kind="stable")
        s, p = s[order], p[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(p, starts)
    neg = np.add.reduceat(1.0 - p, starts)
    below = np.cumsum(neg) - neg
    above = pos.sum() - np.cumsum(pos)
    variance = p * (1.0 - p)
    self_pairs = float(variance.sum())
    positives = float(pos.sum())
    negatives = n - positives
    pairs = positives * negatives - self_pairs
    if pairs <= 0:
        return math.nan, math.nan
    wins = float((pos * (below + 0.5 * neg)).sum()) - 0.5 * self_pairs
    auc = wins / pairs
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    d_wins = below[group] + 0.5 * (neg[group] - (1.0 - p)) - above[group] - 0.5 * (pos[group] - p)
    gradient = (d_wins - auc * (negatives - positives)) / pairs
    return auc, math.sqrt(float((gradient**2 * variance).sum()))


def _multiclass(
    p: np.ndarray, s: np.ndarray, names: list[str], cost: dict[str, float] | None
) -> tuple[dict[str, float], dict[str, float], dict[str, Any] | None]:
    """Expected multiclass metrics and their standard deviations, labels ~ Categorical(p).

    A metric that is a mean of per-row losses ``L[i, k]`` (loss if the label is ``k``) has
    expected value ``mean_i sum_k p_ik L_ik`` and variance ``sum_i Var_i / n^2``; macro F1
    gets its variance by the delta method, per row over the one-hot label.
    """
    n = len(p)
    rows = np.arange(n)
    predicted = s.argmax(axis=1)
    q = p[rows, predicted]
    values: dict[str, float] = {}
    stds: dict[str, float] = {}

    def mean_of(losses: np.ndarray) -> tuple[float, float]:
        expected = (p * losses).sum(axis=1)
        variance = (p * losses**2).sum(axis=1) - expected**2
        return float(expected.mean()), math.sqrt(float(np.clip(variance, 0.0, None).sum())) / n

    for name in names:
        if name == "accuracy":
            values[name] = float(q.mean())
            stds[name] = math.sqrt(float((q * (1.0 - q)).sum())) / n
        elif name == "macro_f1":
            values[name], stds[name] = _macro_f1(p, predicted, q)
        elif name == "brier":
            squares = (s**2).sum(axis=1, keepdims=True) - 2.0 * s + 1.0
            values[name], stds[name] = mean_of(squares)
        elif name == "log_loss":
            values[name], stds[name] = mean_of(-np.log(np.clip(s, LOG_LOSS_EPS, 1.0)))
    expected_cost = None
    if cost is not None:
        errors = float(n - q.sum())
        total = cost.get("error", 0.0) * errors
        expected_cost = {
            "total": total,
            "per_prediction": total / n,
            "std": abs(cost.get("error", 0.0)) * math.sqrt(float((q * (1.0 - q)).sum())),
            "rows": n,
            "outcomes": {"errors": errors},
        }
    return values, stds, expected_cost


def _macro_f1(p: np.ndarray, predicted: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """Expected macro F1 (mean one-vs-rest F1 over classes with expected support) and its sd.

    Per class ``F1_k = 2 TP_k / (predicted_k + true_k)``; its gradient with respect to row
    ``i``'s one-hot label is ``(2 [pred_i = k] - F1_k) / D_k`` for label ``k``.
    """
    k = p.shape[1]
    tp = np.bincount(predicted, weights=q, minlength=k)
    support = np.bincount(predicted, minlength=k) + p.sum(axis=0)
    present = support > 0
    count = int(present.sum())
    safe = np.where(present, support, 1.0)
    f1 = np.where(present, 2.0 * tp / safe, 0.0)
    value = float(f1[present].mean())
    base = np.where(present, -f1 / safe, 0.0) / count
    bump = 2.0 / (safe[predicted] * count)  # the extra gradient of the predicted class
    first = p @ base + q * bump
    second = p @ base**2 + q * ((base[predicted] + bump) ** 2 - base[predicted] ** 2)
    variance = np.clip(second - first**2, 0.0, None)
    return value, math.sqrt(float(variance.sum()))
