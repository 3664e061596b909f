"""Performance estimation without labels: CBPE for classifiers, DLE for regressors.

Labels arrive weeks after the predictions; until then the monitor estimates the model's
metrics from what it has: the scores (CBPE) or the inputs and predictions (DLE). Both are
fitted on the reference (the model's validation data, labels known), carry their fitted state
as plain JSON (CBPE) or bytes without pickle (DLE), and compare with the realized metrics once
labels arrive (:func:`divergence`).
"""

from tether.performance.estimation.base import (
    MetricEstimate,
    PerformanceEstimate,
    PerformanceEstimator,
)
from tether.performance.estimation.cbpe import CBPE
from tether.performance.estimation.divergence import divergence
from tether.performance.estimation.dle import DLE

__all__ = [
    "CBPE",
    "DLE",
    "MetricEstimate",
    "PerformanceEstimate",
    "PerformanceEstimator",
    "divergence",
]
