"""The conditions a column offers to the search, learned on the reference, and each row's code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from tether.drift.features import FeatureColumn, as_number, column_kind, ranked_levels

CONDITION = pl.Struct(
    {
        "column": pl.String,
        "kind": pl.String,
        "value": pl.String,
        "low": pl.Float64,
        "high": pl.Float64,
    }
)
"""One condition of a segment: ``kind`` is ``value`` (``column = value``), ``range``
(``low <= column < high``, a null bound is open; dates and times in their physical units) or
``missing`` (``column is missing``)."""


@dataclass(frozen=True)
class ColumnConditions:
    """The conditions of one column and how its values become condition codes.

    A numeric (or date/time) column with more distinct values than ``bins`` is cut at its
    reference quantiles into equal-mass ranges, open at both ends so later data falls in one
    even after a shift; the edges are values of the data, so an integer column reads
    ``17 <= dep_hour < 20``. A value holding at least one range's share of the rows (the zeros
    of a zero-inflated column) would swallow several cuts, so it gets a range of its own,
    from it to the next value seen, and the other values are cut at their own quantiles into
    the ranges left. Any other column offers its ``top`` most frequent values. Every
    column offers "is missing" (null, NaN or inf) last. Codes ``0..n_conditions - 1`` are the
    conditions; code ``n_conditions`` is a value that is not searched (a category outside the
    most frequent ones, a number not seen in the reference), which stays in the rest.

    Example
    -------
    >>> from tether.drift.features import feature_columns
    >>> frame = pl.DataFrame({"hour": [5, 9, 12, 17, 20, None]})
    >>> hour = ColumnConditions.learn(frame, feature_columns(frame, None, "x")[0], 3, 20)
    >>> [hour.words(code) for code in range(hour.n_conditions)]
    ['hour < 9', '9 <= hour < 17', 'hour >= 17', 'hour is missing']
    >>> hour.codes(frame).tolist()
    [0, 1, 1, 2, 2, 3]
    """

    feature: FeatureColumn
    edges: np.ndarray | None = None  # inner edges of the ranges; None when values are levels
    levels: list[Any] = field(default_factory=list)  # floats (numbers, times) or strings

    @property
    def n_conditions(self) -> int:
        """Conditions offered, "is missing" included."""
        values = len(self.edges) + 1 if self.edges is not None else len(self.levels)
        return values + 1

    @classmethod
    def learn(
        cls, reference: pl.DataFrame, feature: FeatureColumn, bins: int, top: int
    ) -> ColumnConditions:
        """The conditions of ``feature`` on the ``reference`` rows."""
        if feature.kind == "empty":
            return cls(feature)
        if feature.kind == "categorical":
            levels, _ = ranked_levels(reference.get_column(feature.name).cast(pl.String), top)
            return cls(feature, levels=levels)
        values = reference.select(as_number(feature)).to_series().drop_nulls().to_numpy()
        distinct, counts = np.unique(values, return_counts=True)
        if len(distinct) > bins:
            return cls(feature, edges=_edges(values, distinct, counts, bins))
        order = np.lexsort((distinct, -counts))[:top]  # most frequent first, ties by value
        return cls(feature, levels=distinct[order].tolist())

    def codes(self, frame: pl.DataFrame) -> np.ndarray:
        """Each row's condition code, as int16."""
        missing, other = self.n_conditions - 1, self.n_conditions
        name, kind = self.feature.name, self.feature.kind
        if kind == "categorical":
            text = pl.col(name).cast(pl.String)
            index = text.replace_strict(
                self.levels, range(len(self.levels)), default=other, return_dtype=pl.Int16
            )
            expr = pl.when(text.is_null()).then(missing).otherwise(index).cast(pl.Int16)
            return frame.select(expr).to_series().to_numpy()
        dtype = frame.schema[name]
        now = column_kind(dtype) or "empty"
        if now not in ("numeric", "temporal"):  # only a column empty in the reference
            absent = frame.get_column(name).is_null().to_numpy()
            return np.where(absent, missing, other).astype(np.int16)
        x = frame.select(as_number(FeatureColumn(name, now, dtype))).to_series().to_numpy()
        if kind == "empty":
            codes = np.full(len(x), other)
        elif self.edges is not None:
            codes = np.searchsorted(self.edges, x, side="right")
        else:
            levels = np.asarray(self.levels, dtype=np.float64)
            order = np.argsort(levels)
            at = np.minimum(np.searchsorted(levels[order], x), len(levels) - 1)
            codes = np.where(levels[order][at] == x, order[at], other)
        return np.where(np.isnan(x), missing, codes).astype(np.int16)

    def condition(self, code: int) -> dict[str, Any]:
        """The condition of ``code`` as a :data:`CONDITION` record."""
        name = self.feature.name
        if code == self.n_conditions - 1:
            return {"column": name, "kind": "missing", "value": None, "low": None, "high": None}
        if self.edges is None:
            value = self.levels[code]
            text = value if isinstance(value, str) else self._show(value)
            return {"column": name, "kind": "value", "value": text, "low": None, "high": None}
        low = float(self.edges[code - 1]) if code > 0 else None
        high = float(self.edges[code]) if code < len(self.edges) else None
        return {"column": name, "kind": "range", "value": None, "low": low, "high": high}

    def words(self, code: int) -> str:
        """The condition of ``code`` in words, e.g. ``carrier = 'UA'``."""
        cond, name = self.condition(code), self.feature.name
        if cond["kind"] == "missing":
            return f"{name} is missing"
        if cond["kind"] == "value":
            shown = repr(cond["value"]) if self.feature.kind == "categorical" else cond["value"]
            return f"{name} = {shown}"
        low, high = cond["low"], cond["high"]
        if low is None:
            return f"{name} < {self._show(high)}"
        if high is None:
            return f"{name} >= {self._show(low)}"
        return f"{self._show(low)} <= {name} < {self._show(high)}"

    def _show(self, value: float) -> str:
        dtype = self.feature.dtype
        if dtype.is_temporal():
            return str(pl.Series([round(value)]).cast(dtype)[0])
        if dtype == pl.Boolean:
            return str(bool(value))
        return f"{value:.6g}"


def _edges(values: np.ndarray, distinct: np.ndarray, counts: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges of the ranges of ``values`` (their sorted ``distinct`` values and
    ``counts``), ``bins`` equal-mass ranges where no value holds a range's share of the rows.

    >>> zeros = np.r_[np.zeros(90), np.arange(1.0, 11.0)]  # 90% zeros
    >>> distinct, counts = np.unique(zeros, return_counts=True)
    >>> _edges(zeros, distinct, counts, 5).tolist()
    [1.0, 3.0, 5.0, 8.0]
    """
    heavy = counts * bins >= len(values)
    after = np.minimum(np.flatnonzero(heavy) + 1, len(distinct) - 1)
    edges = [distinct[heavy], distinct[after]]
    pieces = bins - int(heavy.sum())
    if pieces >= 2 and not heavy.all():
        rest = values[~np.isin(values, distinct[heavy])] if heavy.any() else values
        edges.append(np.quantile(rest, np.arange(1, pieces) / pieces, method="inverted_cdf"))
    out = np.unique(np.concatenate(edges))
    return out[out > distinct[0]]
