"""What every performance estimator shares: the result types and a small base class.

An estimator is fitted on the reference (the model's validation data, labels known) and then
estimates the model's metrics on a window of production traffic whose labels have not arrived.
Each estimate comes with the standard deviation of the *realized* metric around it at this
window's size, a band of ``sigmas`` of those, and alert thresholds learned from the realized
metric on chunks of the reference.

Every estimator assumes there is no concept drift: ``P(y | x)`` is the same in the window as in
the reference, only the inputs ``x`` may move (covariate shift). When the labels arrive, a
realized metric outside the estimated band is therefore evidence that this assumption broke,
i.e. of concept drift (see :func:`~tether.performance.estimation.divergence.divergence`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from tether.errors import FormatError, InputError
from tether.performance import business
from tether.performance.metrics import METRICS, compute_metrics, resolve

RESULT_SCHEMA = {
    "metric": pl.String,
    "estimated": pl.Float64,
    "std": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "lower_threshold": pl.Float64,
    "upper_threshold": pl.Float64,
    "alert": pl.Boolean,
    "rows": pl.Int64,
}
"""Columns of :meth:`PerformanceEstimate.to_frame`."""


@dataclass(frozen=True)
class MetricEstimate:
    """One metric estimated on one window.

    Parameters
    ----------
    metric
        Registry name of the metric (see :data:`~tether.performance.metrics.METRICS`).
    value
        The estimated metric (NaN when undefined, e.g. precision with no predicted positive).
    std
        Standard deviation of the realized metric around the estimate at this window's size,
        if the assumptions hold (sampling error only).
    low, high
        The band ``value ± sigmas * std``, clipped to the metric's range.
    lower_threshold, upper_threshold
        Alert thresholds at this window's size, from the realized metric on reference chunks.
    alert
        Whether the estimate lies outside the thresholds.

    Example
    -------
    >>> MetricEstimate("accuracy", 0.9, 0.01, 0.87, 0.93, 0.88, 0.96, False).to_dict()["high"]
    0.93
    """

    metric: str
    value: float
    std: float
    low: float
    high: float
    lower_threshold: float
    upper_threshold: float
    alert: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON, NaN as ``None``."""
        return {
            "metric": self.metric,
            "value": json_float(self.value),
            "std": json_float(self.std),
            "low": json_float(self.low),
            "high": json_float(self.high),
            "lower_threshold": json_float(self.lower_threshold),
            "upper_threshold": json_float(self.upper_threshold),
            "alert": self.alert,
        }


@dataclass(frozen=True)
class PerformanceEstimate:
    """The estimated performance of a model on one window of unlabeled traffic.

    Parameters
    ----------
    rows
        Number of predictions in the window.
    metrics
        One :class:`MetricEstimate` per metric, by name.
    confusion
        Expected binary confusion counts ``tp, fp, tn, fn`` (``None`` for other tasks).
    cost
        Expected business cost when the estimator has a cost matrix: ``total``,
        ``per_prediction``, ``std`` (of the realized total), ``rows`` and ``outcomes`` (the
        expected counts or units the cost is made of); else ``None``.
    """

    rows: int
    metrics: dict[str, MetricEstimate]
    confusion: dict[str, float] | None = None
    cost: dict[str, Any] | None = None

    @property
    def alerts(self) -> list[str]:
        """Names of the metrics whose estimate lies outside the alert thresholds."""
        return [name for name, m in self.metrics.items() if m.alert]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "rows": self.rows,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "confusion": self.confusion,
            "cost": self.cost,
        }

    def to_frame(self) -> pl.DataFrame:
        """One row per metric with columns of :data:`RESULT_SCHEMA` (NaN as null)."""
        records = [
            {
                "metric": m.metric,
                "estimated": m.value,
                "std": m.std,
                "low": m.low,
                "high": m.high,
                "lower_threshold": m.lower_threshold,
                "upper_threshold": m.upper_threshold,
                "alert": m.alert,
                "rows": self.rows,
            }
            for m in self.metrics.values()
        ]
        frame = pl.DataFrame(records, schema=RESULT_SCHEMA)
        return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def check_cost(cost: Mapping[str, float] | None, task: str) -> dict[str, float] | None:
    """``cost`` checked for ``task`` (:func:`tether.performance.business.check_cost`), or None."""
    return None if cost is None else business.check_cost(cost, task)


class PerformanceEstimator:
    """Base class of the performance estimators (CBPE, DLE).

    A subclass fits its own model of the labels on the reference, then calls
    :meth:`_fit_thresholds` with the reference labels and scores; its ``estimate`` computes
    each metric's value and standard deviation on a window and builds the result with
    :meth:`_estimate`. Parameters are set in the constructor only; fitted state ends in ``_``.

    Alert thresholds come from the realized metric on consecutive reference chunks of
    ``chunk_size`` rows: their mean ± ``sigmas`` standard deviations, the standard deviation
    scaled from the chunk size to the window's size by ``sqrt(chunk_size / rows)``, so a
    threshold means the same at any window size, and never closer to the mean than the
    practical floor :meth:`min_effect_of` (clipped to the metric's range).
    """

    task_: str
    threshold: float = 0.5
    """Score at or above which a binary prediction is positive (classifiers set their own)."""
    tasks: ClassVar[tuple[str, ...]] = ()
    ranges: ClassVar[dict[str, tuple[float, float]]] = {}
    """Range of each metric where it is not [0, 1]."""

    def __init__(
        self,
        metrics: tuple[str, ...] | list[str] | None,
        *,
        chunk_size: int | None,
        sigmas: float,
        min_effect: float,
    ) -> None:
        self.metrics = metrics
        self.chunk_size = chunk_size
        self.sigmas = sigmas
        self.min_effect = min_effect

    # ---------------------------------------------------------------------------- parameters

    def _check_params(self) -> None:
        who = type(self).__name__
        if self.chunk_size is not None and (
            isinstance(self.chunk_size, bool)
            or not isinstance(self.chunk_size, int)
            or self.chunk_size < 1
        ):
            raise InputError(f"{who}: chunk_size is {self.chunk_size!r}; it must be a positive int")
        if not (isinstance(self.sigmas, int | float) and 0 < self.sigmas < math.inf):
            raise InputError(f"{who}: sigmas is {self.sigmas!r}; it must be a positive number")
        if not (isinstance(self.min_effect, int | float) and 0 <= self.min_effect < math.inf):
            raise InputError(
                f"{who}: min_effect is {self.min_effect!r}; it must be a non-negative number"
            )

    def _metric_names(self, task: str, supported: tuple[str, ...]) -> list[str]:
        """The chosen metric names, checked against the registry, ``task`` and ``supported``."""
        who = type(self).__name__
        if self.metrics is None:
            return list(supported)
        if isinstance(self.metrics, str):
            raise InputError(f"{who}: metrics is {self.metrics!r}; pass a list of metric names")
        names = [m.name for m in resolve(task, list(self.metrics))]
        unsupported = [n for n in names if n not in supported]
        if unsupported:
            raise InputError(
                f"{who} cannot estimate {unsupported} for {task} models; choose from "
                f"{list(supported)}"
            )
        if not names:
            raise InputError(f"{who}: metrics is empty; name at least one metric")
        return names

    def _check_fitted(self) -> None:
        if not hasattr(self, "reference_"):
            raise InputError(
                f"{type(self).__name__} is not fitted; call fit on the reference before estimate"
            )

    # ---------------------------------------------------------------------------- thresholds

    def _fit_thresholds(self, y: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> None:
        """Realized metrics on consecutive reference chunks: their mean and spread per metric.

        Chunks keep the reference's order, so slow changes within it (the reference is often
        a period of time) count as part of its normal variation. Only full chunks are used.
        """
        n = len(y)
        size = self.chunk_size if self.chunk_size is not None else max(1, n // 10)
        chunks = n // size
        if chunks < 2:
            raise InputError(
                f"{type(self).__name__}: the reference has {n} rows, fewer than 2 chunks of "
                f"chunk_size={size}; pass a smaller chunk_size or a larger reference"
            )
        values = np.full((len(self.metric_names_), chunks), np.nan)
        for j in range(chunks):
            part = slice(j * size, (j + 1) * size)
            for i, name in enumerate(self.metric_names_):
                values[i, j] = METRICS[name].compute(y[part], scores[part], None, threshold)
        reference: dict[str, dict[str, float]] = {}
        for i, name in enumerate(self.metric_names_):
            defined = values[i][~np.isnan(values[i])]
            enough = defined.size >= 2
            reference[name] = {
                "mean": float(defined.mean()) if enough else math.nan,
                "std": float(defined.std(ddof=1)) if enough else math.nan,
            }
        self.chunk_size_ = size
        self.reference_ = reference

    def min_effect_of(self, metric: str) -> float:
        """The practical floor of ``metric``'s thresholds: ``min_effect`` in its units."""
        return float(self.min_effect)

    def thresholds(self, metric: str, rows: int) -> tuple[float, float]:
        """Lower and upper alert thresholds of ``metric`` for a window of ``rows`` rows."""
        self._check_fitted()
        stats = self.reference_[metric]
        spread = stats["std"] * math.sqrt(self.chunk_size_ / rows)
        half = max(self.sigmas * spread, self.min_effect_of(metric))
        low, high = self.ranges.get(metric, (0.0, 1.0))
        return (
            float(np.clip(stats["mean"] - half, low, high)),
            float(np.clip(stats["mean"] + half, low, high)),
        )

    # ---------------------------------------------------------------------------- results

    def estimate(self, *args: Any, **kwargs: Any) -> PerformanceEstimate:
        """The estimated performance of one window; the arguments are the estimator's own
        (CBPE: the scores; DLE: the features and the predictions)."""
        raise NotImplementedError

    def _estimate(
        self,
        rows: int,
        values: Mapping[str, float],
        stds: Mapping[str, float],
        confusion: dict[str, float] | None = None,
        cost: dict[str, Any] | None = None,
    ) -> PerformanceEstimate:
        """The result of a window from each metric's estimated value and standard deviation."""
        metrics = {}
        for name in self.metric_names_:
            value, std = float(values[name]), float(stds[name])
            low, high = self.ranges.get(name, (0.0, 1.0))
            lower, upper = self.thresholds(name, rows)
            metrics[name] = MetricEstimate(
                metric=name,
                value=value,
                std=std,
                low=float(np.clip(value - self.sigmas * std, low, high)),
                high=float(np.clip(value + self.sigmas * std, low, high)),
                lower_threshold=lower,
                upper_threshold=upper,
                alert=bool(value < lower or value > upper),
            )
        return PerformanceEstimate(rows, metrics, confusion, cost)

    def realized(self, y_true: Any, scores: Any) -> dict[str, float]:
        """The realized metrics of a window whose labels have arrived, for comparison."""
        self._check_fitted()
        return compute_metrics(
            self.task_,
            y_true,
            scores,
            threshold=self.threshold,
            names=self.metric_names_,
        )

    # ---------------------------------------------------------------------------- state

    def _reference_state(self) -> dict[str, Any]:
        return {
            "task": self.task_,
            "metric_names": self.metric_names_,
            "chunk_size": self.chunk_size_,
            "reference": {
                name: {k: json_float(v) for k, v in stats.items()}
                for name, stats in self.reference_.items()
            },
        }

    def _load_reference_state(self, state: Mapping[str, Any]) -> None:
        try:
            self.task_ = str(state["task"])
            self.metric_names_ = [str(name) for name in state["metric_names"]]
            self.chunk_size_ = int(state["chunk_size"])
            self.reference_ = {
                str(name): {k: math.nan if v is None else float(v) for k, v in stats.items()}
                for name, stats in state["reference"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(
                f"{type(self).__name__} state: missing or malformed field ({exc!r})"
            ) from None
        if self.task_ not in self.tasks or set(self.metric_names_) != set(self.reference_):
            raise FormatError(
                f"{type(self).__name__} state: task {self.task_!r} or metrics "
                f"{self.metric_names_} do not match the reference statistics"
            )
