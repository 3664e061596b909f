"""The monitor's view of declared segments: which level each row belongs to, how the window's
mix of levels compares with the support the model had in training, and whether a level's
scores drifted from that level's own validation scores.

A segment column is cut into levels the way the bundle's baseline cut it (numbers at the
validation deciles stored in the bundle, other values as themselves), so a production level and
its baseline row have the same label. A level the model rarely saw in training but that is
frequent in production is where it generalizes worst; :func:`representation` reports every
level's share against its training share and alerts on those.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl
from scipy import stats

from tether.contract.dtypes import to_polars
from tether.drift.api import drift
from tether.monitor.result import result
from tether.performance.baseline import segment_labels

if TYPE_CHECKING:
    from tether.bundle import Bundle

LEVEL_PREFIX = "segment:"
"""Prefix of the columns :func:`label_segments` adds (the feature itself stays as it is)."""

RARE_SHARE = 0.05
"""Training share below which a level counts as rare in training."""

OVER_REPRESENTATION = 2.0
"""How many times its training share a rare level must hold in production to alert."""

MAX_LEVELS = 50
"""Most levels of one segment column that get metrics, estimates and score drift in a window
(the most frequent; the representation check sees every level)."""


def level_column(segment: str) -> str:
    """Name of the level column of ``segment`` added by :func:`label_segments`."""
    return f"{LEVEL_PREFIX}{segment}"


def levels(frame: pl.DataFrame, segment: str, min_rows: int) -> Iterator[tuple[str, pl.DataFrame]]:
    """The :data:`MAX_LEVELS` most frequent levels of ``segment`` with at least ``min_rows``
    rows in ``frame`` (labelled by :func:`label_segments`), largest first, with their rows."""
    column = level_column(segment)
    if column not in frame.columns:
        return
    counts = frame.get_column(column).value_counts(name="rows").filter(pl.col("rows") >= min_rows)
    kept = counts.sort(["rows", column], descending=[True, False]).head(MAX_LEVELS)
    if kept.height == 0:
        return
    parts = frame.filter(pl.col(column).is_in(kept[column].implode())).partition_by(
        column, as_dict=True
    )
    for level in kept[column]:
        yield level, parts[(level,)]


def label_segments(bundle: Bundle, frame: pl.DataFrame, segments: list[str]) -> pl.DataFrame:
    """``frame`` with one text column of level labels per declared segment present in it.

    >>> from types import SimpleNamespace
    >>> bundle = SimpleNamespace(metadata={"segment_edges": {"distance": [500.0]},
    ...                                    "segment_schema": {"distance": "float64"}})
    >>> frame = pl.DataFrame({"distance": [200.0, 900.0, None]})
    >>> label_segments(bundle, frame, ["distance"])["segment:distance"].to_list()
    ['(-inf, 500.0)', '[500.0, inf)', '(missing)']
    """
    edges = bundle.metadata.get("segment_edges") or {}
    schema = bundle.metadata.get("segment_schema") or {}
    # the log keeps what clients sent: a number sent as text, or 18 for 18.0, is read in the
    # segment's validation type first (what does not fit is missing), so levels match training
    typed = {
        name: frame[name].cast(to_polars(schema[name]), strict=False)
        if name in schema else frame[name]
        for name in segments if name in frame.columns
    }  # fmt: skip
    return frame.with_columns(
        segment_labels(column, edges.get(name)).alias(level_column(name))
        for name, column in typed.items()
    )


def representation(
    bundle: Bundle, served: pl.DataFrame, segments: list[str], *, alpha: float, min_rows: int
) -> list[dict[str, Any]]:
    """Each level's share of the served rows against its training support (``check="segments",
    metric="share"``, ``baseline`` the training share, detail the training rows).

    A level alerts when it has at least ``min_rows`` rows, was rare in training (share below
    :data:`RARE_SHARE`, or absent) and production holds significantly more than
    :data:`OVER_REPRESENTATION` times that share: the lower end of the window share's Wilson
    interval at ``1 - alpha`` (Bonferroni over the levels) is above it.
    """
    support = bundle.metadata.get("representation") or {}
    n = served.height
    rows: list[dict[str, Any]] = []
    if n == 0:
        return rows
    for segment in segments:
        known = support.get(segment)
        column = level_column(segment)
        if known is None or column not in served.columns:
            continue
        counts = served.get_column(column).value_counts(name="rows").sort("rows", descending=True)
        z = stats.norm.isf(alpha / max(counts.height, 1))
        for level, count in counts.iter_rows():
            trained = int(known["levels"].get(level, 0))
            training_share = trained / known["rows"] if known["rows"] else 0.0
            share = count / n
            rare = training_share < RARE_SHARE
            alert = (
                rare
                and count >= min_rows
                and _wilson_low(count, n, z) > OVER_REPRESENTATION * training_share
            )
            rows.append(
                result(
                    "segments", "share", share, segment=segment, segment_value=level,
                    baseline=training_share, alert=alert, rows=count,
                    detail={"training_rows": trained, "training_source": known["source"],
                            "rare_in_training": rare,
                            "ratio": share / training_share if training_share else None},
                )
            )  # fmt: skip
    return rows


def prediction_drift(
    bundle: Bundle, scored: pl.DataFrame, segments: list[str], *, alpha: float, min_rows: int
) -> list[dict[str, Any]]:
    """Drift of each level's scores against the same level's validation scores
    (``check="prediction_drift"`` with ``segment`` set), for levels with at least ``min_rows``
    rows on both sides; ``alpha`` is shared among the levels tested (Bonferroni), so many
    small segments do not multiply false alarms.
    """
    reference = bundle.reference_scores
    if reference is None or scored.height == 0:
        return []
    outputs = bundle.output_columns
    pairs = []
    for segment in segments:
        column = level_column(segment)
        stored = segment if segment in reference.columns else f"segment_{segment}"
        if column not in scored.columns or stored not in reference.columns:
            continue
        edges = (bundle.metadata.get("segment_edges") or {}).get(segment)
        labelled = reference.with_columns(segment_labels(reference[stored], edges).alias(column))
        for level, current in levels(scored, segment, min_rows):
            past = labelled.filter(pl.col(column) == level)
            if past.height >= min_rows:
                pairs.append((segment, level, past.select(outputs), current.select(outputs)))
    rows: list[dict[str, Any]] = []
    for segment, level, past, current in pairs:
        report = drift(past, current, alpha=alpha / len(pairs))
        for found in report.to_frame().iter_rows(named=True):
            rows.append(
                result(
                    "prediction_drift", found["method"], found["statistic"],
                    column=found["column"], segment=segment, segment_value=level,
                    upper=found["threshold"], alert=bool(found["drifted"]),
                    rows=found["n_current"],
                    detail={"effect": found["effect"], "min_effect": found["min_effect"],
                            "n_reference": found["n_reference"], "levels_tested": len(pairs)},
                )
            )  # fmt: skip
    return rows


def _wilson_low(count: int, n: int, z: float) -> float:
    """Lower end of the Wilson score interval of a proportion (Wilson, 1927)."""
    share = count / n
    centre = share + z * z / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)
