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
from tether.monitor.labels import encode_labels
from tether.monitor.result import result
from tether.monitor.segments import level_column, levels
from tether.performance.bootstrap import bootstrap_metrics
from tether.performance.business import outcome_cost
from tether.performance.calibration import (
    brier_score,
    expected_calibration_error,
    reliability_curve,
)
from tether.performance.estimation import PerformanceEstimate, PerformanceEstimator
from tether.performance.estimation.divergence import divergence
from tether.performance.metrics import compute_metrics

if TYPE_CHECKING:
    from tether.bundle import Bundle

CALIBRATION_BINS = 10

BOOTSTRAP_ROWS = 5_000
"""Most rows a realized metric's bootstrap resamples; beyond, the m-out-of-n bootstrap
(:func:`~tether.performance.bootstrap.bootstrap_metrics`'s ``max_rows``)."""


def scores_of(bundle: Bundle, frame: pl.DataFrame) -> np.ndarray:
    """The window's scores as :mod:`tether.performance` takes them: a 1-D array for binary
    scores and regression predictions, ``(n, k)`` probabilities for multiclass."""
    matrix = frame.select(bundle.output_columns).cast(pl.Float64).to_numpy()
    return matrix if bundle.task == "multiclass" else matrix[:, 0]


def labels_of(bundle: Bundle, labeled: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Encoded labels of ``labeled`` rows and the mask of usable ones (see
    :func:`tether.monitor.labels.encode_labels`)."""
    return encode_labels(bundle, labeled.get_column("label"))


def estimate(
    bundle: Bundle, estimator: PerformanceEstimator, served: pl.DataFrame
) -> PerformanceEstimate:
    """The estimator's view of the served rows: CBPE reads the scores, DLE the features and the
    predictions."""
    if bundle.task == "regression":
        return estimator.estimate(served.select(bundle.features), scores_of(bundle, served))
    return estimator.estimate(scores_of(bundle, served))


def coverage(served: int, labeled: int, unusable: int = 0) -> dict[str, Any]:
    """Share of the window's served predictions whose label arrived; ``unusable`` labels (no
    class of the model, not a number) are counted in the detail and left out of the metrics."""
    share = labeled / served if served else math.nan
    return result(
        "coverage", "label_coverage", share, rows=served,
        detail={"labeled": labeled, "unusable": unusable},
    )  # fmt: skip


def realized(
    bundle: Bundle,
    labeled: pl.DataFrame,
    estimator: PerformanceEstimator | None,
    *,
    segments: list[str],
    min_rows: int,
    n_resamples: int = 100,
) -> list[dict[str, Any]]:
    """Realized metrics on the labeled rows, overall and per segment level (``check="realized"``,
    ``baseline`` the bundle's validation value), each with its bootstrap confidence interval
    (``detail["ci"]``, 95%, ``n_resamples`` resamples of at most :data:`BOOTSTRAP_ROWS` rows;
    none when 0). With an estimator,
    ``lower``/``upper`` are its alert thresholds at the group's size (the realized metric's
    spread on reference chunks), centred on the group's own baseline, so a segment that was
    always different is judged against itself."""
    rows = []
    names = None if estimator is None else estimator.metric_names_
    for segment, value, y, s in _labeled_groups(bundle, labeled, segments, min_rows):
        n = len(y)
        if n_resamples:
            found = bootstrap_metrics(bundle.task, y, s, names=names, threshold=bundle.threshold,
                                      n_resamples=n_resamples, max_rows=BOOTSTRAP_ROWS)  # fmt: skip
            values = {metric: estimate.value for metric, estimate in found.items()}
            intervals = {
                metric: [estimate.low, estimate.high] for metric, estimate in found.items()
            }
        else:
            values = compute_metrics(bundle.task, y, s, threshold=bundle.threshold, names=names)
            intervals = {}
        for metric, measured in values.items():
            baseline = bundle.baseline(metric, segment, value)
            lower, upper = _band(estimator, metric, n, segment, baseline)
            ci = intervals.get(metric)
            rows.append(
                result(
                    "realized", metric, measured, segment=segment, segment_value=value,
                    lower=lower, upper=upper, baseline=baseline, rows=n,
                    alert=lower is not None and _outside(measured, lower, upper),  # type: ignore[arg-type]
                    detail=None if ci is None else {"ci": [_json_number(b) for b in ci]},
                )
            )  # fmt: skip
    return rows


def estimated_by_segment(
    bundle: Bundle,
    estimator: PerformanceEstimator,
    served: pl.DataFrame,
    *,
    segments: list[str],
    min_rows: int,
) -> tuple[list[dict[str, Any]], dict[tuple[str | None, str | None], PerformanceEstimate]]:
    """Estimated metrics of each segment level of the served rows (``check="estimated"`` with
    ``segment`` set), judged like the realized ones: against the alert thresholds at the
    level's size, centred on the level's own baseline. Also returns the estimates by
    ``(segment, level)`` for the business rows."""
    rows = []
    estimates: dict[tuple[str | None, str | None], PerformanceEstimate] = {}
    # only what the estimator reads (DLE: the features too) travels into each level's part
    wanted = [*(bundle.features if bundle.task == "regression" else []), *bundle.output_columns,
              *(level_column(s) for s in segments)]  # fmt: skip
    served = served.select(c for c in dict.fromkeys(wanted) if c in served.columns)
    for segment, value, part in _groups(served, segments, min_rows):
        if segment is None:
            continue
        found = _estimate_part(bundle, estimator, part)
        if found is None:
            continue
        estimates[(segment, value)] = found
        for name, metric in found.metrics.items():
            baseline = bundle.baseline(name, segment, value)
            lower, upper = _band(estimator, name, found.rows, segment, baseline)
            rows.append(
                result(
                    "estimated", name, metric.value, segment=segment, segment_value=value,
                    lower=lower, upper=upper, baseline=baseline, rows=found.rows,
                    alert=lower is not None and _outside(metric.value, lower, upper),  # type: ignore[arg-type]
                    detail={"band": [metric.low, metric.high], "std": metric.std},
                )
            )  # fmt: skip
    return rows, estimates


def _band(
    estimator: PerformanceEstimator | None,
    metric: str,
    rows: int,
    segment: str | None,
    baseline: float | None,
) -> tuple[float | None, float | None]:
    """The estimator's alert thresholds of ``metric`` at ``rows`` rows; for a segment, moved
    to be centred on the segment's baseline."""
    if estimator is None or metric not in estimator.reference_:
        return None, None
    lower, upper = estimator.thresholds(metric, rows)
    if segment is not None and baseline is not None:
        centre = estimator.reference_[metric]["mean"]
        low, high = estimator.ranges.get(metric, (0.0, 1.0))
        lower = float(np.clip(lower - centre + baseline, low, high))
        upper = float(np.clip(upper - centre + baseline, low, high))
    return lower, upper


def estimated(
    estimate: PerformanceEstimate,
    of_labeled: PerformanceEstimate | None,
    realized_rows: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Estimated metrics of the whole window (``check="estimated"``: the estimate with its band,
    alert against the thresholds, and the expected confusion counts) and, where labels arrived,
    a ``<metric>_divergence`` row per metric: realized minus what the estimator expects of the
    same labeled rows (``of_labeled``), with the band of that estimate, alerting when realized
    lies outside it (:func:`~tether.performance.estimation.divergence`). Comparing like with
    like matters: against the whole window's estimate, a partly labeled window would look
    divergent from sampling alone."""
    rows = [
        result("estimated", f"expected_{outcome}", count, rows=estimate.rows)
        for outcome, count in (estimate.confusion or {}).items()
    ]
    for name, found in estimate.metrics.items():
        rows.append(
            result(
                "estimated", name, found.value, lower=found.lower_threshold,
                upper=found.upper_threshold, alert=found.alert, rows=estimate.rows,
                detail={"band": [found.low, found.high], "std": found.std},
            )
        )  # fmt: skip
    realized = {r["metric"]: r["value"] for r in realized_rows if r["segment"] is None}
    if of_labeled is None or not realized:
        return rows
    measured = {
        name: math.nan if realized.get(name) is None else realized[name]
        for name in of_labeled.metrics
    }
    for row in divergence(of_labeled, measured).iter_rows(named=True):
        if any(row[key] is None for key in ("realized", "estimated", "low", "high")):
            continue
        rows.append(
            result(
                "estimated", f"{row['metric']}_divergence", row["difference"],
                lower=row["low"] - row["estimated"], upper=row["high"] - row["estimated"],
                alert=bool(row["diverged"]), rows=of_labeled.rows,
                detail={"realized": row["realized"], "estimated": row["estimated"],
                        "z": row["z"]},
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
    for segment, value, y, s in _labeled_groups(bundle, labeled, segments, min_rows):
        n = len(y)
        baseline_ece = bundle.baseline("ece", segment, value)
        # A calibrated model's ECE from sampling alone: each bin's gap is about
        # sqrt(p(1-p)/n_b) <= 0.5 sqrt(bins/n), so its weighted mean stays below
        # 0.5 sqrt(bins/n); sqrt(bins/n) allows twice that on top of the baseline.
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
                segment_value=value, baseline=bundle.baseline("brier", segment, value), rows=n,
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
    labeled: pl.DataFrame,
    estimate: PerformanceEstimate | None,
    segment_estimates: dict[tuple[str | None, str | None], PerformanceEstimate],
    *,
    segments: list[str],
    min_rows: int,
) -> list[dict[str, Any]]:
    """Money per prediction from the bundle's cost matrix (``check="business"``): realized on
    the labeled rows and estimated on the served rows (``estimate`` of the whole window and
    ``segment_estimates`` of its levels, from :func:`estimated_by_segment`), overall and per
    segment, against the bundle's expected cost at validation."""
    cost = bundle.metadata.get("cost")
    if not cost:
        return []
    baseline = bundle.cost["per_prediction"] if bundle.cost else None
    rows = []
    if estimate is not None:
        by_group: dict[tuple[str | None, str | None], PerformanceEstimate] = {
            (None, None): estimate,
            **segment_estimates,
        }
        for (segment, value), found in by_group.items():
            if found.cost is None:
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
    for segment, value, y, s in _labeled_groups(bundle, labeled, segments, min_rows):
        paid = outcome_cost(cost, bundle.task, y, s, threshold=bundle.threshold)
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
    """The whole frame, then each level of each segment column with at least ``min_rows``
    rows (smaller groups are noise, not news; see :func:`tether.monitor.segments.levels`)."""
    yield None, None, frame
    for segment in segments:
        for level, part in levels(frame, segment, min_rows):
            yield segment, level, part


def _labeled_groups(
    bundle: Bundle, labeled: pl.DataFrame, segments: list[str], min_rows: int
) -> Iterator[tuple[str | None, Any, np.ndarray, np.ndarray]]:
    """:func:`_groups` of labeled rows as ``(segment, value, labels, scores)``, keeping the
    usable labels; groups with fewer than two are skipped."""
    # only what the metrics read travels into each level's part
    wanted = ["label", *bundle.output_columns, *(level_column(s) for s in segments)]
    narrow = labeled.select(c for c in wanted if c in labeled.columns)
    for segment, value, part in _groups(narrow, segments, min_rows):
        y, usable = labels_of(bundle, part)
        if usable.sum() >= 2:
            yield segment, value, y[usable], scores_of(bundle, part)[usable]


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _outside(value: float | None, lower: float, upper: float) -> bool:
    return value is not None and math.isfinite(value) and not lower <= value <= upper
