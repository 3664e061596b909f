"""The pre-deploy gate's checks: what a challenger must pass before it replaces the champion."""

from tether.checks.fairness import FairnessCheck, check_fairness

__all__ = ["FairnessCheck", "check_fairness"]
