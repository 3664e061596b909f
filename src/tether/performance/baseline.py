"""The baseline table: metrics with confidence intervals, overall and per segment."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.performance.bootstrap import bootstrap_metrics
from tether.performance.metrics import check_inputs, check_threshold, resolve

ALL = "all"
"""Segment and value of the overall rows."""

MISSING = "(missing)"
"""Level of rows whose segment value is null (or NaN)."""

OTHER = "(other)"
"""Level of rows whose segment value is not among the most frequent levels."""

SCHEMA = {
    "segment": pl.String,
    "value": pl.String,
    "metric": pl.String,
    "estimate": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "rows": pl.Int64,
}
"""Columns of :func:`baseline_metrics`' frame."""


def baseline_metrics(
    task: str,
    y_true: Any,
    scores: Any,
    *,
    segments: pl.DataFrame | None = None,
    threshold: float = 0.5,
    names: list[str] | None = None,
    n_resamples: int = 200,
    confidence: float = 0.95,
    min_segment_rows: int = 100,
    max_segment_levels: int = 50,
    seed: int = 0,
) -> pl.DataFrame:
    """Bootstrap estimates of each metric on all rows and on each level of each segment column.

    One tidy row per (segment, value, metric) with columns ``segment, value, metric, estimate,
    low, high, rows``; the overall rows have segment and value ``"all"``. Segment values are
    written as strings: nulls (and NaN) as ``"(missing)"``, and levels beyond the
    ``max_segment_levels`` most frequent as ``"(other)"``. A numeric column with more distinct
    values than that is cut at its deciles on these (reference) rows into intervals such as
    ``"[1.0, 3.5)"``, open at both ends so that later data always falls in one. A level with
    fewer than ``min_segment_rows`` rows keeps its row count but gets null estimates: its
    metrics would be mostly noise. Undefined metrics (e.g. ROC AUC of a one-class level) are
    null too. Levels are listed most frequent first (intervals in order), then ``"(other)"``
    and ``"(missing)"``.

    Parameters
    ----------
    task, y_true, scores
        As in :func:`~tether.performance.metrics.compute_metrics`.
    segments
        Optional frame of segment columns, one row per prediction.
    threshold, names, n_resamples, confidence, seed
        As in :func:`~tether.performance.bootstrap.bootstrap_metrics`.
    min_segment_rows
        Fewest rows a level needs to be estimated.
    max_segment_levels
        Most levels kept per column; also the distinct count above which numbers are binned.

    Example
    -------
    >>> y = np.array([0, 1] * 150)
    >>> p = np.where(y == 1, 0.8, 0.3)
    >>> seg = pl.DataFrame({"region": ["north"] * 200 + ["south"] * 90 + [None] * 10})
    >>> table = baseline_metrics("binary", y, p, segments=seg, names=["accuracy"])
    >>> table.select("segment", "value", "estimate", "rows").rows()
    [('all', 'all', 1.0, 300), ('region', 'north', 1.0, 200), ('region', 'south', None, 90), \
('region', '(missing)', None, 10)]
    """
    y, s = check_inputs(task, y_true, scores)
    check_threshold(threshold)
    metric_names = [metric.name for metric in resolve(task, names)]
    for name, value in (
        ("min_segment_rows", min_segment_rows),
        ("max_segment_levels", max_segment_levels),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} is {value!r}; it must be a positive integer")
    if segments is None:
        segments = pl.DataFrame()
    elif not isinstance(segments, pl.DataFrame):
        raise InputError(f"segments is a {type(segments).__name__}; it must be a polars DataFrame")
    elif segments.height != len(y):
        raise InputError(
            f"segments has {segments.height} rows but y_true has {len(y)}; "
            "they must have one row each"
        )

    def estimate(segment: str, value: str, rows: np.ndarray | None) -> list[dict[str, Any]]:
        sub_y, sub_s = (y, s) if rows is None else (y[rows], s[rows])
        if len(sub_y) < min_segment_rows and rows is not None:
            return [
                {"segment": segment, "value": value, "metric": m, "rows": len(sub_y)}
                for m in metric_names
            ]
        estimates = bootstrap_metrics(
            task,
            sub_y,
            sub_s,
            names=metric_names,
            threshold=threshold,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
        return [
            {
                "segment": segment,
                "value": value,
                "metric": m,
                "estimate": e.value,
                "low": e.low,
                "high": e.high,
                "rows": e.rows,
            }
            for m, e in estimates.items()
        ]

    records = estimate(ALL, ALL, None)
    for column in segments.columns:
        labels, codes = segment_levels(segments[column], max_segment_levels)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
        for code, label in enumerate(labels):
            records += estimate(column, label, order[bounds[code] : bounds[code + 1]])
    table = pl.DataFrame(records, schema=SCHEMA)
    return table.with_columns(pl.col("estimate", "low", "high").fill_nan(None))


def segment_levels(column: pl.Series, max_levels: int) -> tuple[list[str], np.ndarray]:
    """The level labels of a segment column and each row's level code (an index into them).

    Levels with no rows are left out; see :func:`baseline_metrics` for the rules.

    >>> labels, codes = segment_levels(pl.Series(["b", "a", "b", None, "c"]), 1)
    >>> labels, codes.tolist()
    (['b', '(other)', '(missing)'], [0, 1, 0, 2, 1])
    """
    if column.dtype.is_float():
        column = column.fill_nan(None)
    edges = range_edges(column, max_levels)
    if edges is not None:
        return range_levels(column, edges)
    try:
        text = pl.DataFrame({"level": column.cast(pl.String)})
    except pl.exceptions.PolarsError:
        raise InputError(
            f"segment column {column.name!r} has type {column.dtype}; segments must be numbers, "
            "strings, booleans or dates"
        ) from None
    counts = (
        text.drop_nulls().group_by("level").len().sort(["len", "level"], descending=[True, False])
    )
    top = counts["level"].head(max_levels).to_list()
    level = pl.col("level")
    codes = text.select(
        pl.when(level.is_null())
        .then(len(top) + 1)
        .otherwise(level.replace_strict(top, list(range(len(top))), default=len(top)))
    ).to_series()
    return _present([*top, OTHER, MISSING], codes.to_numpy())


def range_edges(column: pl.Series, max_levels: int) -> list[float] | None:
    """The inner decile edges that cut a numeric segment column into intervals, or None when
    the column is kept as values (not numeric, or at most ``max_levels`` distinct values).

    Learned once on reference rows and stored, so that later data is cut the same way.

    >>> range_edges(pl.Series(range(0, 110, 10)), 5)[:4]
    [10.0, 20.0, 30.0, 40.0]
    >>> range_edges(pl.Series(["a", "b"]), 50) is None
    True
    """
    if column.dtype.is_float():
        column = column.fill_nan(None)
    if not column.dtype.is_numeric() or column.drop_nulls().n_unique() <= max_levels:
        return None
    values = column.drop_nulls().cast(pl.Float64).to_numpy()
    deciles = np.quantile(values, np.linspace(0.1, 0.9, 9))
    # 12 significant digits: 30.000000000000004 is the 30 its label shows
    return [float(edge) for edge in np.unique(np.round(deciles, 12 - _magnitude(deciles)))]


def segment_labels(column: pl.Series, edges: list[float] | None) -> pl.Series:
    """Each row's level label as text: its interval when the column was cut at ``edges``
    (:func:`range_edges` of the reference), else its value; nulls and NaN are
    ``"(missing)"``. Unlike :func:`segment_levels` no value is folded into ``"(other)"``, so
    a value the reference never had keeps its own name.

    >>> segment_labels(pl.Series([0.5, None]), [1.0]).to_list()
    ['(-inf, 1.0)', '(missing)']
    >>> segment_labels(pl.Series(["EWR", None]), None).to_list()
    ['EWR', '(missing)']
    """
    if edges is not None:
        labels, codes = range_levels(column, edges)
        return pl.Series(column.name, labels, dtype=pl.String).gather(codes)
    if column.dtype.is_float():
        column = column.fill_nan(None)
    try:
        text = column.cast(pl.String)
    except pl.exceptions.PolarsError:
        raise InputError(
            f"segment column {column.name!r} has type {column.dtype}; segments must be numbers, "
            "strings, booleans or dates"
        ) from None
    return text.fill_null(MISSING)


def range_levels(column: pl.Series, edges: list[float]) -> tuple[list[str], np.ndarray]:
    """Labels (``"[1.0, 3.5)"``, open at both ends) and codes of a numeric column cut at
    ``edges``; nulls and NaN are ``"(missing)"``. Levels with no rows are left out.

    >>> labels, codes = range_levels(pl.Series([0.5, 2.0, None]), [1.0])
    >>> labels, codes.tolist()
    (['(-inf, 1.0)', '[1.0, inf)', '(missing)'], [0, 1, 2])
    """
    values = column.cast(pl.Float64).to_numpy()
    missing = np.isnan(values)
    codes = np.where(missing, len(edges) + 1, np.searchsorted(edges, values, side="right"))
    # 6 significant digits unless adjacent edges need more to be told apart
    digits = next(
        (d for d in range(6, 13) if len({_number(e, d) for e in edges}) == len(edges)), 17
    )
    shown = ["-inf", *(_number(e, digits) for e in edges), "inf"]
    labels = [f"{'(' if lo == '-inf' else '['}{lo}, {hi})" for lo, hi in itertools.pairwise(shown)]
    return _present([*labels, MISSING], codes)


def _magnitude(values: np.ndarray) -> int:
    largest = float(np.max(np.abs(values)))
    return int(np.floor(np.log10(largest))) + 1 if largest > 0 else 0


def _number(value: float, digits: int) -> str:
    """Label of a bin edge: ``digits`` significant digits, written like a Python float."""
    return repr(float(f"{value:.{digits}g}"))


def _present(labels: list[str], codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Drops the labels no row has and renumbers the codes to match."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    renumber = np.full(len(labels), -1)
    renumber[used] = np.arange(len(used))
    return [labels[i] for i in used], renumber[codes]
