"""The monitor's performance checks: label coverage, realized and estimated performance side by
side, calibration and business cost, overall and per declared segment.

Realized metrics need labels; estimated ones (CBPE for classifiers, DLE for regressors) need
only the scores, so they speak for the rows whose labels are still on their way. Both are judged
against the same alert thresholds, learned from the realized metric on chunks of the reference
at this window's size, so a realized value and its estimate read on one scale; where both exist
the estimator's band around the estimate says whether they disagree beyond sampling error, which
is itself a sign of concept drift.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.monitor.drift_checks import score_columns
from tether.monitor.result import result
from tether.performance.business import outcome_cost
from tether.performance.calibration import (
    brier_score,
    expected_calibration_error,
    reliability_curve,
)
from tether.performance.estimation import PerformanceEstimate, PerformanceEstimator

if TYPE_CHECKING:
    from tether.bundle import Bundle

CALIBRATION_BINS = 10


def scores_of(bundle: Bundle, frame: pl.DataFrame) -> np.ndarray:
    """The window's scores as :mod:`tether.performance` takes them: a 1-D array for binary
    scores and regression predictions, ``(n, k)`` probabilities for multiclass."""
    matrix = frame.select(score_columns(bundle)).cast(pl.Float64).to_numpy()
    return matrix if bundle.task == "multiclass" else matrix[:, 0]


def labels_of(bundle: Bundle, labeled: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Encoded labels of ``labeled`` rows (class index or number) and a mask of the rows whose
    label the model can be judged on (known class, finite number)."""
    label = labeled.get_column("label")
    if bundle.task == "regression":
        values = label.cast(pl.Float64, strict=False).to_numpy()
        return values, np.isfinite(values)
    classes = bundle.classes
    # labels arrive as JSON: 1 and "1" and true name the same class when the model's classes
    # are numbers or booleans, so compare as text
    text = label.cast(pl.String)
    names = [str(c).lower() if isinstance(c, bool) else str(c) for c in classes]
    text = text.str.to_lowercase() if any(isinstance(c, bool) for c in classes) else text
    codes = text.replace_strict(names, list(range(len(names))), default=-1, return_dtype=pl.Int64)
    encoded = codes.to_numpy()
    return encoded, encoded >= 0


def estimate(
    bundle: Bundle, estimator: PerformanceEstimator, served: pl.DataFrame
) -> PerformanceEstimate:
    """The estimator's view of the served rows: CBPE reads the scores, DLE the features and the
    predictions."""
    if bundle.task == "regression":
        return estimator.estimate(served.select(bundle.features), scores_of(bundle, served))
    return estimator.estimate(scores_of(bundle, served))


def coverage(served: int, labeled: int) -> dict[str, Any]:
    """Share of the window's served predictions whose label arrived."""
    share = labeled / served if served else math.nan
    return result("coverage", "label_coverage", share, rows=served, detail={"labeled": labeled})


def realized(
    bundle: Bundle,
    labeled: pl.DataFrame,
    estimator: PerformanceEstimator | None,
    *,
    segments: list[str],
    min_rows: int,
) -> list[dict[str, Any]]:
    """Realized metrics on the labeled rows, overall and per segment value (``check="realized"``);
    ``lower``/``upper`` are the alert thresholds at the group's size, ``baseline`` the bundle's
    validation value."""
    if estimator is None:
        return []
    rows = []
    for segment, value, part in _groups(labeled, segments, min_rows):
        y, mask = labels_of(bundle, part)
        if mask.sum() < 2:
            continue
        s = scores_of(bundle, part)[mask]
        values = estimator.realized(y[mask], s)
        for metric, measured in values.items():
            lower, upper = estimator.thresholds(metric, int(mask.sum()))
            rows.append(
                result(
                    "realized", metric, measured, segment=segment, segment_value=value,
                    lower=lower, upper=upper, baseline=_baseline(bundle, metric, segment, value),
                    alert=_outside(measured, lower, upper), rows=int(mask.sum()),
                )
            )  # fmt: skip
    return rows


def estimated(
    estimate: PerformanceEstimate, realized_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Estimated metrics of the whole window (``check="estimated"``: the estimate with its band,
    alert against the thresholds) and, where the realized value of the same window exists, a
    ``divergence`` row: realized minus estimated, alert when realized lies outside the band."""
    rows = [
        result("estimated", f"expected_{outcome}", count, rows=estimate.rows)
        for outcome, count in (estimate.confusion or {}).items()
    ]
    overall = {
        row["metric"]: row for row in realized_rows if row["segment"] is None
    }  # fmt: skip
    for name, found in estimate.metrics.items():
        rows.append(
            result(
                "estimated", name, found.value, lower=found.lower_threshold,
                upper=found.upper_threshold, alert=found.alert, rows=estimate.rows,
                detail={"band": [found.low, found.high], "std": found.std},
            )
        )  # fmt: skip
        seen = overall.get(name)
        if seen is not None and seen["value"] is not None and math.isfinite(found.value):
            gap = seen["value"] - found.value
            rows.append(
                result(
                    "estimated", f"{name}_divergence", gap, lower=found.low - found.value,
                    upper=found.high - found.value, alert=_outside(seen["value"], found.low,
                    found.high), rows=seen["rows"],
                    detail={"realized": seen["value"], "estimated": found.value},
                )
            )  # fmt: skip
    return rows


def calibration(
    bundle: Bundle, labeled: pl.DataFrame, *, segments: list[str], min_rows: int
) -> list[dict[str, Any]]:
    """ECE with equal-width and equal-mass bins and the Brier score of the labeled rows, overall
    and per segment (``check="calibration"``). An ECE alerts when it exceeds the bundle's
    validation ECE by more than its sampling noise at this size (``sqrt(bins / n)``)."""
    if bundle.task == "regression":
        return []
    rows = []
    for segment, value, part in _groups(labeled, segments, min_rows):
        y, mask = labels_of(bundle, part)
        n = int(mask.sum())
        if n < 2:
            continue
        y, s = y[mask], scores_of(bundle, part)[mask]
        baseline_ece = _baseline(bundle, "ece", segment, value)
        noise = math.sqrt(CALIBRATION_BINS / n)
        for metric, strategy in (("ece_equal_width", "uniform"), ("ece_equal_mass", "quantile")):
            ece = float(expected_calibration_error(y, s, bins=CALIBRATION_BINS, strategy=strategy))
            upper = None if baseline_ece is None else baseline_ece + noise
            rows.append(
                result(
                    "calibration", metric, ece, segment=segment, segment_value=value,
                    upper=upper, baseline=baseline_ece, rows=n,
                    alert=upper is not None and ece > upper,
                )
            )  # fmt: skip
        rows.append(
            result(
                "calibration", "brier", float(brier_score(y, s)), segment=segment,
                segment_value=value, baseline=_baseline(bundle, "brier", segment, value), rows=n,
            )
        )  # fmt: skip
        curve = reliability_curve(y, s, bins=CALIBRATION_BINS)
        rows.append(
            result(
                "calibration", "reliability_curve", None, segment=segment,
                segment_value=value, rows=n, detail={"bins": curve.to_dicts()},
            )
        )  # fmt: skip
    return rows


def business(
    bundle: Bundle,
    served: pl.DataFrame,
    labeled: pl.DataFrame,
    estimator: PerformanceEstimator | None,
    estimate: PerformanceEstimate | None,
    *,
    segments: list[str],
    min_rows: int,
) -> list[dict[str, Any]]:
    """Money per prediction from the bundle's cost matrix (``check="business"``): realized on
    the labeled rows and estimated on all served rows, overall and per segment, against the
    bundle's expected cost at validation."""
    cost = bundle.metadata.get("cost")
    if not cost:
        return []
    baseline = bundle.cost["per_prediction"] if bundle.cost else None
    rows = []
    if estimator is not None:
        for segment, value, part in _groups(served, segments, min_rows):
            found = estimate if segment is None else _estimate_part(bundle, estimator, part)
            if found is None or found.cost is None:
                continue
            expected = found.cost
            std = expected.get("std")
            per_std = None if std is None or not expected["rows"] else std / expected["rows"]
            rows.append(
                result(
                    "business", "estimated_cost_per_prediction", expected["per_prediction"],
                    segment=segment, segment_value=value, baseline=baseline,
                    rows=expected["rows"],
                    detail={"total": expected["total"], "std_per_prediction": per_std,
                            "outcomes": expected["outcomes"]},
                )
            )  # fmt: skip
    for segment, value, part in _groups(labeled, segments, min_rows):
        y, mask = labels_of(bundle, part)
        if not mask.any():
            continue
        paid = outcome_cost(
            cost, bundle.task, y[mask], scores_of(bundle, part)[mask], threshold=bundle.threshold
        )
        rows.append(
            result(
                "business", "cost_per_prediction", paid["per_prediction"], segment=segment,
                segment_value=value, baseline=baseline, rows=paid["rows"],
                detail={"total": paid["total"], "outcomes": paid["outcomes"]},
            )
        )  # fmt: skip
    return rows


def _estimate_part(
    bundle: Bundle, estimator: PerformanceEstimator, part: pl.DataFrame
) -> PerformanceEstimate | None:
    """The estimate of one segment's rows; None when the estimator cannot judge so few."""
    try:
        return estimate(bundle, estimator, part)
    except InputError:
        return None


def _groups(
    frame: pl.DataFrame, segments: list[str], min_rows: int
) -> Iterator[tuple[str | None, Any, pl.DataFrame]]:
    """The whole frame, then each value of each segment column with at least ``min_rows``
    rows (smaller groups are noise, not news)."""
    yield None, None, frame
    for segment in segments:
        if segment not in frame.columns:
            continue
        for (value,), part in frame.group_by(segment, maintain_order=True):
            if part.height >= min_rows:
                yield segment, value, part


def _baseline(bundle: Bundle, metric: str, segment: str | None, value: Any) -> float | None:
    table = bundle.metrics
    found = table.filter(
        (pl.col("metric") == metric)
        & (pl.col("segment") == (segment or "all"))
        & (pl.col("value") == ("all" if segment is None else str(value)))
    )
    estimate = found["estimate"][0] if found.height else None
    # undefined at validation (precision without a predicted positive): no baseline
    return None if estimate is None else float(estimate)


def _outside(value: float | None, lower: float, upper: float) -> bool:
    return value is not None and math.isfinite(value) and not lower <= value <= upper
