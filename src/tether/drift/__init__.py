"""Drift: which columns changed, how much, and whether it matters at this sample size.

``drift(reference, current)`` compares two tables (or profiles), or each window of current data,
and returns a :class:`DriftReport`. Each univariate method lives in its own module on the small
:class:`~tether.drift.base.DriftMethod` base class; thresholds are calibrated at the current sample
size (:mod:`tether.drift.thresholds`); multivariate drift is in :mod:`tether.drift.multivariate`.
"""

from tether.drift.api import drift
from tether.drift.column import column_drift
from tether.drift.methods import DEFAULT_METHODS, METHODS
from tether.drift.multivariate import DomainClassifierDrift, PCAReconstructionDrift
from tether.drift.report import DriftReport

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "DomainClassifierDrift",
    "DriftReport",
    "PCAReconstructionDrift",
    "column_drift",
    "drift",
]
