"""The monitor's weak-segment discovery: where in this window the model does worse.

Three searches over conjunctions of up to three input conditions
(:class:`~tether.performance.segments.WeakSegments`, ranges cut at the validation rows'
quantiles), each on at most ``max_rows`` rows of the window (a seeded sample beyond):

- ``labeled``: on rows whose label arrived, the 0/1 error (absolute error for a regressor)
  against the rest and, for classifiers, against what the model's own scores expected of the
  segment. Only ``worse_than_expected`` segments alert: a calibrated model is less accurate
  where it is less certain, and such ``low_confidence`` regions are reported without alerting.
- ``estimated`` (classifiers): on every scored row, the error the scores expect (CBPE row by
  row): where the model is least sure of itself, before any label arrives.
- ``representation``: validation rows against this window's rows, the loss being "is a
  production row": conjunctions production holds far more of than validation did, the
  segments the model saw least of in training relative to now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tether.monitor.result import result
from tether.performance.segments import WeakSegments, error_loss, expected_error

if TYPE_CHECKING:
    from tether.bundle import Bundle

CHECK = "weak_segment"
MAX_REPORTED = 10
"""Most segments a search reports per window (the largest impact first)."""


def searcher(bundle: Bundle, **params: Any) -> WeakSegments | None:
    """A search fitted on the bundle's validation rows; None for bundles without them."""
    if bundle.reference_rows is None or bundle.reference_rows.height == 0:
        return None
    return WeakSegments(**params).fit(bundle.reference_rows)


def weak_segments(
    bundle: Bundle,
    search: WeakSegments,
    scored: pl.DataFrame,
    judged: pl.DataFrame,
    labels: np.ndarray,
    scores_of_judged: np.ndarray,
    scores: np.ndarray,
    *,
    max_rows: int,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Rows of ``check="weak_segment"`` for the three searches (``metric`` is the search,
    ``segment`` the segment in words); see the module docstring."""
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(seed)
    classifier = bundle.task != "regression"
    if judged.height:
        keep = _sample(judged.height, max_rows, rng)
        y, s = labels[keep], scores_of_judged[keep]
        loss = error_loss(bundle.task, y, s, threshold=bundle.threshold)
        expected = variance = None
        if classifier:
            expected, variance = expected_error(bundle.task, s, threshold=bundle.threshold)
        found = search.find(judged[keep], loss, expected=expected, variance=variance)
        rows += _rows("labeled", found, alert_kind="worse_than_expected")
    if classifier and scored.height:
        keep = _sample(scored.height, max_rows, rng)
        expected, _ = expected_error(bundle.task, scores[keep], threshold=bundle.threshold)
        rows += _rows("estimated", search.find(scored[keep], expected), alert_kind=None)
    reference = bundle.reference_rows
    if reference is not None and scored.height:
        keep = _sample(scored.height, max_rows, rng)
        both = pl.concat(
            [reference, scored[keep].select(reference.columns).cast(reference.schema)],
            how="vertical",
        )
        production = np.r_[np.zeros(reference.height), np.ones(len(keep))]
        found = search.find(both, production)
        rows += _representation(found, reference.height, len(keep))
    return rows


def _sample(rows: int, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if rows <= max_rows:
        return np.arange(rows)
    return np.sort(rng.choice(rows, max_rows, replace=False))


def _rows(search: str, found: pl.DataFrame, *, alert_kind: str | None) -> list[dict[str, Any]]:
    return [
        result(
            CHECK, search, row["loss"], segment=row["segment"], baseline=row["rest_loss"],
            rows=row["size"], alert=row["kind"] == alert_kind,
            detail=_detail(row),
        )
        for row in found.head(MAX_REPORTED).iter_rows(named=True)
    ]  # fmt: skip


def _representation(found: pl.DataFrame, reference: int, production: int) -> list[dict[str, Any]]:
    """A segment's share of the production rows (value) against its share of the validation
    rows (baseline)."""
    rows = []
    for row in found.head(MAX_REPORTED).iter_rows(named=True):
        in_production = row["size"] * row["loss"]
        in_reference = row["size"] - in_production
        detail = _detail(row) | {
            "validation_rows": round(in_reference),
            "description": f"{row['segment']}: {in_production / production:.1%} of this "
            f"window's rows against {in_reference / reference:.1%} of the validation rows.",
        }
        rows.append(
            result(
                CHECK, "representation", in_production / production, segment=row["segment"],
                baseline=in_reference / reference, rows=round(in_production), detail=detail,
            )
        )  # fmt: skip
    return rows


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("rank", "kind", "support", "gap", "q_value", "expected_loss", "q_value_expected",
            "impact", "description", "conditions")  # fmt: skip
    return {key: row[key] for key in keep if key in row}
