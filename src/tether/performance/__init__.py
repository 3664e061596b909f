"""Model performance: metrics, bootstrap intervals, calibration, baseline tables, importance.

Every metric takes case weights, ``(n,)`` or ``(B, n)``, so bootstrap resamples and later
monitoring windows are computed as vectorized weighted sums (see
:mod:`tether.performance.metrics` for the input conventions of each task).
"""

from tether.performance.baseline import baseline_metrics
from tether.performance.bootstrap import Estimate, bootstrap_metrics
from tether.performance.calibration import (
    brier_score,
    expected_calibration_error,
    reliability_curve,
)
from tether.performance.fairness import FairnessReport
from tether.performance.importance import permutation_importance
from tether.performance.metrics import (
    METRICS,
    Metric,
    compute_metrics,
    confusion_counts,
    default_metrics,
)
from tether.performance.segments import WeakSegments

__all__ = [
    "METRICS",
    "Estimate",
    "FairnessReport",
    "Metric",
    "WeakSegments",
    "baseline_metrics",
    "bootstrap_metrics",
    "brier_score",
    "compute_metrics",
    "confusion_counts",
    "default_metrics",
    "expected_calibration_error",
    "permutation_importance",
    "reliability_curve",
]
