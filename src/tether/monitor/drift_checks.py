"""The monitor's drift checks: inputs against the training profile, outputs against the
validation scores, and the model's confidence.

Each turns a result of the drift engine (:func:`tether.drift`,
:func:`tether.drift.confidence_drift`) into rows of :data:`~tether.monitor.result.RESULT_SCHEMA`;
thresholds, effect floors and reasons are the engine's, unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from tether.drift.api import drift
from tether.drift.output import confidence_drift
from tether.monitor.result import result

if TYPE_CHECKING:
    from tether.bundle import Bundle


def input_drift(bundle: Bundle, served: pl.DataFrame, *, alpha: float) -> list[dict[str, Any]]:
    """One row per feature and method (``check="drift"``: the statistic against its threshold at
    this window's size, ``alert`` when drifted) and a summary row ``drifted_columns`` whose
    alert is the window's dataset verdict (Holm over the columns)."""
    report = drift(bundle.reference, served.select(bundle.features), alpha=alpha)
    return [*_rows("drift", report), _summary("drift", report)]


def prediction_drift(bundle: Bundle, served: pl.DataFrame, *, alpha: float) -> list[dict[str, Any]]:
    """Drift of the model's scores (or regression predictions) against its validation scores
    (``check="prediction_drift"``), by the same engine and rules as the inputs."""
    report = drift(bundle.prediction_profile, served.select(bundle.output_columns), alpha=alpha)
    return [*_rows("prediction_drift", report), _summary("prediction_drift", report)]


def confidence(bundle: Bundle, served: pl.DataFrame, *, alpha: float) -> list[dict[str, Any]]:
    """Mean top-class probability and mean normalized entropy against the validation scores
    (``check="confidence"``), a classifier's first warning while labels are late."""
    reference = bundle.reference_scores
    if bundle.task == "regression" or reference is None or served.height < 2:
        return []
    columns = bundle.output_columns
    found = confidence_drift(reference.select(columns), served.select(columns), alpha=alpha)
    return [
        result(
            "confidence",
            row["metric"],
            row["current"],
            baseline=row["reference"],
            lower=row["reference"] + row["ci_low"] - row["difference"],
            upper=row["reference"] + row["ci_high"] - row["difference"],
            alert=row["drifted"],
            rows=found.n_current,
            detail={
                "difference": row["difference"],
                "p_value": row["p_value"],
                "effect_size": row["effect_size"],
                "min_effect": found.min_effect,
            },
        )
        for row in found.to_frame().iter_rows(named=True)
    ]


_DETAIL = ("kind", "effect", "min_effect", "p_value", "significant", "primary", "reason",
           "n_reference")  # fmt: skip
"""The drift report's fields kept in a result row's ``detail``."""


def _rows(check: str, report: Any) -> list[dict[str, Any]]:
    return [
        result(
            check,
            row["method"],
            row["statistic"],
            column=row["column"],
            upper=row["threshold"],
            alert=bool(row["drifted"]),
            rows=row["n_current"],
            detail={key: row[key] for key in _DETAIL},
        )
        for row in report.to_frame().iter_rows(named=True)
    ]


def _summary(check: str, report: Any) -> dict[str, Any]:
    drifted = report.drifted
    return result(
        check,
        "drifted_columns",
        len(drifted),
        alert=report.dataset_drifted,
        detail={"columns": drifted},
    )
