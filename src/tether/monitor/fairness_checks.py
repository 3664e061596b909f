"""The monitor's fairness check: the bundle's sensitive groups in every production window.

Before labels arrive a window has the decisions only: each group's selection rate and mean
score, and the demographic-parity disparities. Once labels arrive, the labeled rows add the
error rates (true and false positive rates, precision, calibration gap) and their disparities
(equalized odds, equal opportunity, predictive parity). Each disparity is compared with the
bundle's validation report (:meth:`~tether.performance.fairness.FairnessReport.compare`) and
alerts when it grew beyond both reports' intervals and a practical floor, so a disparity that
grows in production is news the day it does, not at the next audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.monitor.result import result
from tether.monitor.segments import level_column
from tether.performance.fairness import FairnessReport, fairness

if TYPE_CHECKING:
    from tether.bundle import Bundle

CHECK = "fairness"
FLOOR = 0.02
"""Smallest growth of a disparity that alerts, in its own units (see ``compare``)."""

MIN_RESAMPLES = 100
"""Fewest bootstrap resamples of a window's report: its alerts stand on the intervals, so
they are drawn even when the monitor's own ``n_resamples`` is 0."""


def fairness_rows(
    bundle: Bundle,
    scored: pl.DataFrame,
    scores: np.ndarray,
    judged: pl.DataFrame,
    labels: np.ndarray,
    scores_of_judged: np.ndarray,
    *,
    min_rows: int,
    n_resamples: int,
) -> list[dict[str, Any]]:
    """Rows of ``check="fairness"``: group metrics (``segment`` the attribute,
    ``segment_value`` the group, ``baseline`` its validation value) and disparities
    (``segment`` the attribute, ``alert`` when it grew); ``scored``/``judged`` carry the
    level columns of :func:`tether.monitor.segments.label_segments`. A window's disparities
    take only the groups the baseline compared, so a group too small to measure at validation
    cannot read as a disparity that grew; attributes missing from the log get one
    ``unavailable`` row saying so."""
    baseline = bundle.fairness
    if baseline is None or not bundle.metadata["sensitive"] or scored.height == 0:
        return []
    sensitive = [
        name for name in bundle.metadata["sensitive"] if level_column(name) in scored.columns
    ]
    absent = [name for name in bundle.metadata["sensitive"] if name not in sensitive]
    rows: list[dict[str, Any]] = []
    if absent:
        rows.append(
            result(CHECK, "unavailable", None,
                   detail={"reason": f"sensitive attributes {absent} are not in the logged "
                                     "inputs of this window; send them with each request"})
        )  # fmt: skip
    if not sensitive:
        return rows
    settings = {"threshold": bundle.threshold, "min_group_rows": min_rows,
                "n_resamples": max(n_resamples, MIN_RESAMPLES),
                "compared_groups": baseline.compared_groups()}  # fmt: skip
    decisions = _report(bundle, scored, scores, None, sensitive, settings)
    outcomes = None
    if judged.height:
        outcomes = _report(bundle, judged, scores_of_judged, labels, sensitive, settings)
    reported: set[str] = set()
    for report in (decisions, outcomes):
        if report is None:
            continue
        fresh = report.groups.filter(~pl.col("metric").is_in(sorted(reported)))
        rows += _group_rows(fresh, baseline)
        changes = report.compare(baseline, floor=FLOOR)
        rows += _disparity_rows(changes.filter(~pl.col("metric").is_in(sorted(reported))), report)
        reported |= set(report.groups["metric"]) | set(report.disparities["metric"])
    return rows


def _report(
    bundle: Bundle,
    rows: pl.DataFrame,
    scores: np.ndarray,
    labels: np.ndarray | None,
    sensitive: list[str],
    settings: dict[str, Any],
) -> FairnessReport | None:
    groups = rows.select(pl.col(level_column(name)).alias(name) for name in sensitive)
    try:
        return fairness(bundle.task, scores, groups, y_true=labels, **settings)
    except InputError:  # no attribute with two groups of min_rows rows in this window
        return None


def _group_rows(groups: pl.DataFrame, baseline: FairnessReport) -> list[dict[str, Any]]:
    before = {
        (row["attribute"], row["group"], row["metric"]): row["value"]
        for row in baseline.groups.iter_rows(named=True)
    }
    return [
        result(
            CHECK, row["metric"], row["value"], segment=row["attribute"],
            segment_value=row["group"], rows=row["rows"],
            baseline=before.get((row["attribute"], row["group"], row["metric"])),
            detail={"ci": [row["low"], row["high"]], "share": row["share"],
                    "compared": row["compared"], "why_not": row["detail"]},
        )
        for row in groups.iter_rows(named=True)
    ]  # fmt: skip


def _disparity_rows(changes: pl.DataFrame, report: FairnessReport) -> list[dict[str, Any]]:
    between = {
        (row["attribute"], row["metric"]): (row["groups"], row["n_groups"])
        for row in report.disparities.iter_rows(named=True)
    }
    rows = []
    for row in changes.iter_rows(named=True):
        groups, compared = between[(row["attribute"], row["metric"])]
        rows.append(
            result(
                CHECK, row["metric"], row["value"], segment=row["attribute"],
                baseline=row["baseline_value"], alert=bool(row["grew"]),
                detail={"ci": [row["low"], row["high"]],
                        "baseline_ci": [row["baseline_low"], row["baseline_high"]],
                        "change": row["change"], "groups": groups, "n_groups": compared,
                        "floor": FLOOR},
            )
        )  # fmt: skip
    return rows
