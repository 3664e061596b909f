"""The monitor's tidy result table: one row per (window, check, metric, column, segment).

Every check of the monitoring job returns rows of :data:`RESULT_SCHEMA`, so a window's results
are one frame whatever ran: input drift, prediction and confidence drift, silent failures,
realized and estimated performance, calibration, business cost, concept drift. The store keeps
them per window and version (:meth:`tether.store.PredictionStore.save_window`), and alerts and
reports query them by ``check`` and ``metric``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "check": pl.String(),
    "metric": pl.String(),
    "column": pl.String(),
    "segment": pl.String(),
    "segment_value": pl.String(),
    "value": pl.Float64(),
    "lower": pl.Float64(),
    "upper": pl.Float64(),
    "baseline": pl.Float64(),
    "alert": pl.Boolean(),
    "rows": pl.Int64(),
    "detail": pl.String(),
}
"""Columns of a window's results.

``check``: which family (``drift``, ``prediction_drift``, ``confidence``, ``silent``,
``realized``, ``estimated``, ``calibration``, ``business``, ``concept``, ``coverage``).
``metric``: what was measured (``psi``, ``roc_auc``, ``ece_equal_mass``, ``cost``...).
``column``: the input or output column it is about (null for the whole model).
``segment`` / ``segment_value``: the declared segment and its value (null overall).
``value``: the measurement; ``lower`` / ``upper``: its acceptable band (a threshold is an
upper bound; an estimate's confidence band); ``baseline``: the bundle's value at validation.
``alert``: whether the value breaks its band or rule. ``rows``: rows it was computed on.
``detail``: anything else, as JSON text (a drift method's statistic and threshold, the rules
behind a rejection spike, a change point's time).
"""


def result(
    check: str,
    metric: str,
    value: float | None,
    *,
    column: str | None = None,
    segment: str | None = None,
    segment_value: Any = None,
    lower: float | None = None,
    upper: float | None = None,
    baseline: float | None = None,
    alert: bool = False,
    rows: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One result row; non-finite numbers become null (they have no JSON or SQL form), so a
    check that cannot compute a value says so in ``detail``.

    Example
    -------
    >>> row = result("realized", "roc_auc", 0.91, lower=0.88, rows=5000)
    >>> row["check"], row["value"], row["alert"], row["segment"]
    ('realized', 0.91, False, None)
    >>> result("estimated", "f1", float("nan"), detail={"why": "no scores"})["value"] is None
    True
    """
    return {
        "check": check,
        "metric": metric,
        "column": column,
        "segment": segment,
        "segment_value": None if segment_value is None else str(segment_value),
        "value": _finite(value),
        "lower": _finite(lower),
        "upper": _finite(upper),
        "baseline": _finite(baseline),
        "alert": bool(alert),
        "rows": None if rows is None else int(rows),
        "detail": None if detail is None else json.dumps(detail, sort_keys=True, default=str),
    }


def results_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows built by :func:`result` as a frame of :data:`RESULT_SCHEMA` (empty when none).

    Example
    -------
    >>> results_frame([result("silent", "nan_outputs", 0.0, rows=10)]).shape
    (1, 12)
    """
    return pl.DataFrame(list(rows), schema=RESULT_SCHEMA, orient="row")


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
