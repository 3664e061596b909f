"""Business cost: what a model's outcomes cost (or earn), from a cost matrix per outcome.

A cost matrix turns a confusion matrix or a set of regression errors into money, so that a
window's realized or estimated performance reads in the business's terms. Costs are per outcome
(negative values are value earned): ``tp``, ``fp``, ``tn``, ``fn`` for a binary classifier,
``error`` per wrong class for a multiclass one, ``over`` and ``under`` per unit of over- and
under-prediction for a regressor (:data:`COST_KEYS`). Expected counts (for example CBPE's
expected confusion matrix while labels are missing) cost the same way as realized ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tether.errors import InputError
from tether.performance.metrics import check_inputs, check_task, confusion_counts, predicted

__all__ = ["COST_KEYS", "check_cost", "cost_of_counts", "outcome_cost"]

COST_KEYS = {
    "binary": {"tp", "fp", "tn", "fn"},
    "multiclass": {"error"},
    "regression": {"over", "under"},
}
"""Keys of a cost matrix per task: cost of each outcome (binary), of a wrong class
(multiclass), or of one unit of over- and under-prediction (regression). Negative = value."""

OUTCOMES = {
    "binary": ("tp", "fp", "tn", "fn"),
    "multiclass": ("errors",),
    "regression": ("over_units", "under_units"),
}
"""The outcome counts each task's cost is computed from."""

_PRICE = {"errors": "error", "over_units": "over", "under_units": "under"}
"""The cost key that prices each outcome count (binary outcomes are their own keys)."""


def check_cost(cost: Mapping[str, float], task: str) -> dict[str, float]:
    """``cost`` as floats, refusing keys that do not apply to ``task`` and non-finite values.

    Example
    -------
    >>> check_cost({"fp": 1, "fn": 5}, "binary")
    {'fp': 1.0, 'fn': 5.0}
    >>> check_cost({"over": 1}, "binary")
    Traceback (most recent call last):
    ...
    tether.errors.InputError: cost keys ['over'] do not apply to binary; use ['fn', 'fp', ...]
    """
    check_task(task)
    if not isinstance(cost, Mapping):
        raise InputError(f"cost is a {type(cost).__name__}; it must be a mapping of outcome: cost")
    allowed = COST_KEYS[task]
    unknown = sorted(set(cost) - allowed)
    if unknown:
        raise InputError(f"cost keys {unknown} do not apply to {task}; use {sorted(allowed)}")
    checked = {}
    for key, value in cost.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise InputError(f"cost[{key!r}] must be a finite number, got {value!r}")
        checked[key] = float(value)
    return checked


def cost_of_counts(
    cost: Mapping[str, float], task: str, outcomes: Mapping[str, float]
) -> dict[str, Any]:
    """Total and per-prediction cost of outcome counts (:data:`OUTCOMES`), realized or expected.

    ``outcomes`` also holds ``rows``, the predictions the counts describe.

    Example
    -------
    >>> out = cost_of_counts({"fp": 1.0, "fn": 5.0}, "binary",
    ...                      {"tp": 10, "fp": 4, "tn": 80, "fn": 6, "rows": 100})
    >>> out["total"], out["per_prediction"], out["outcomes"]["fn"]
    (34.0, 0.34, 6.0)
    """
    check_task(task)
    missing = [key for key in (*OUTCOMES[task], "rows") if key not in outcomes]
    if missing:
        raise InputError(f"outcome counts lack {missing} (a {task} cost needs {OUTCOMES[task]})")
    rows = int(outcomes["rows"])
    counts = {key: float(outcomes[key]) for key in OUTCOMES[task]}
    total = sum(cost.get(_PRICE.get(key, key), 0.0) * value for key, value in counts.items())
    per_prediction = total / rows if rows else float("nan")
    return {"total": total, "per_prediction": per_prediction, "rows": rows, "outcomes": counts}


def outcome_cost(
    cost: Mapping[str, float],
    task: str,
    y_true: Any,
    scores: Any,
    *,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """The realized cost of predictions whose labels are known (see :func:`cost_of_counts`).

    Example
    -------
    >>> out = outcome_cost({"over": 1.0, "under": 3.0}, "regression", [10.0, 10.0], [12.0, 9.0])
    >>> out["total"], out["outcomes"]
    (5.0, {'over_units': 2.0, 'under_units': 1.0})
    """
    y, s = check_inputs(task, y_true, scores)
    outcomes: dict[str, float]
    if task == "binary":
        outcomes = {k: float(v) for k, v in confusion_counts(y, s, threshold=threshold).items()}
    elif task == "multiclass":
        outcomes = {"errors": float((predicted(s, threshold) != y).sum())}
    else:
        residual = s - y
        outcomes = {
            "over_units": float(residual[residual > 0].sum()),
            "under_units": float(-residual[residual < 0].sum()),
        }
    return cost_of_counts(cost, task, {**outcomes, "rows": len(y)})
