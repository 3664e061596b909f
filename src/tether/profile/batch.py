"""Adding one batch to the column profiles: one ``select`` for every column, plus a row sample."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tether.profile.numeric import finite, physical
from tether.profile.quantiles import sample_rows
from tether.profile.stats import BatchStats

if TYPE_CHECKING:
    from tether.profile.column import ColumnProfile


def add_batch(columns: dict[str, ColumnProfile], batch: pl.DataFrame, bins: int) -> None:
    """Add ``batch`` to the profiles of its ``columns`` (keyed by name, in the batch's order).

    The work is one row sample of the batch shared by all numeric columns (their quantile
    sketches are fed from it, and a first batch's bin edges are chosen on it); one ``select``
    computing every column's statistics; and a second ``select`` only for the numeric columns
    that need more (see :meth:`~tether.profile.numeric.NumericSummary.second_expressions`),
    usually none. ``bins`` is used only for columns whose bin edges are not chosen yet.
    """
    for name, column in columns.items():
        column.check_dtype(batch.schema[name])
    # Keys are prefixed by column position so that no column name can clash with another's.
    prefixes = {name: f"{i}\0" for i, name in enumerate(columns)}
    numeric = {name: c.numeric for name, c in columns.items() if c.numeric is not None}
    stride, rows = sample_rows(batch.height)
    samples = None
    if any(summary.histogram is None for summary in numeric.values()):
        # Edges are counted on by the select, so a first batch must choose them before it.
        floating = {name: s.floating for name, s in numeric.items()}
        samples = _samples(batch, floating, rows)
        for name, summary in numeric.items():
            whole = None if rows is None else _whole(batch, name, summary.floating)
            summary.choose_edges(samples[name], bins, whole)

    expressions = [e for name, c in columns.items() for e in c.expressions(prefixes[name])]
    stats = batch.select(expressions) if expressions else pl.DataFrame()
    if samples is None:
        samples = _samples(batch, {name: s.floating for name, s in numeric.items()}, rows)
    for name, summary in numeric.items():
        summary.feed(samples[name], stride)
    second = [
        e
        for name, summary in numeric.items()
        for e in summary.second_expressions(name, prefixes[name], BatchStats(stats, prefixes[name]))
    ]
    second_stats = batch.select(second) if second else pl.DataFrame()
    for name, column in columns.items():
        column.add(
            batch.height,
            BatchStats(stats, prefixes[name]),
            BatchStats(second_stats, prefixes[name]),
        )


def _samples(
    batch: pl.DataFrame, floating: dict[str, bool], rows: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The finite values of each numeric column on the sampled rows, sorted, as float64 arrays.

    Sorted because bin edges are read off sorted values, and because a KLL sketch takes sorted
    values more than twice as fast (its compactions sort); polars sorts the columns in parallel.
    """
    if not floating:
        return {}
    sample = batch.select(list(floating))
    if rows is not None:
        sample = sample[rows]
    expressions = [
        finite(physical(pl.col(name), floating=f), floating=f).cast(pl.Float64)
        for name, f in floating.items()
    ]
    values = sample.select(e.sort().implode() for e in expressions)
    return {name: values.get_column(name)[0].to_numpy() for name in floating}


def _whole(batch: pl.DataFrame, name: str, floating: bool) -> Callable[[], np.ndarray]:
    """A function giving all finite values of one column of ``batch``, sorted, as float64."""

    def values() -> np.ndarray:
        column = finite(physical(pl.col(name), floating=floating), floating=floating)
        return batch.select(column.cast(pl.Float64).sort()).to_series().to_numpy()

    return values
