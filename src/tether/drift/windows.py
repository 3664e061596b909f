"""Cutting current data into windows to compare each against one reference.

Three ways, one result shape: by time period on a time column (``"1h"``, ``"1d"``, ``"1w"``,
``"1mo"``: polars duration strings), by a fixed number of rows, or into a number of equal chunks.
Each window carries its bounds so that a report row says which rows it describes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from tether.errors import InputError


@dataclass(frozen=True)
class Window:
    """One slice of current data: its position and its bounds.

    ``start``/``end`` are the period's bounds (end exclusive) for time windows, and the first and
    one-past-last row numbers for row windows and chunks.
    """

    index: int
    start: object
    end: object


def split(
    frame: pl.DataFrame,
    *,
    time_column: str | None = None,
    every: str | None = None,
    rows: int | None = None,
    chunks: int | None = None,
) -> Iterator[tuple[Window, pl.DataFrame]]:
    """Yield ``(window, rows of frame in it)`` for exactly one way of windowing.

    >>> frame = pl.DataFrame({"x": range(10)})
    >>> [(w.start, w.end, part.height) for w, part in split(frame, chunks=3)]
    [(0, 4, 4), (4, 7, 3), (7, 10, 3)]
    >>> [w.end for w, _ in split(frame, rows=4)]
    [4, 8, 10]
    """
    options = (("every", every), ("rows", rows), ("chunks", chunks))
    chosen = [name for name, value in options if value is not None]
    if len(chosen) != 1:
        raise InputError(f"choose exactly one of every=, rows=, chunks= (got {chosen or 'none'})")
    if every is not None:
        yield from _by_period(frame, time_column, every)
    elif rows is not None:
        if rows < 1:
            raise InputError(f"rows must be at least 1, got {rows}")
        for index, start in enumerate(range(0, frame.height, rows)):
            end = min(start + rows, frame.height)
            yield Window(index, start, end), frame.slice(start, rows)
    else:
        assert chunks is not None
        if chunks < 1:
            raise InputError(f"chunks must be at least 1, got {chunks}")
        if chunks > max(frame.height, 1):
            raise InputError(f"chunks={chunks} is more than the {frame.height} rows of the data")
        # Sizes differ by at most one row, the larger chunks first (as numpy.array_split does).
        size, extra = divmod(frame.height, chunks)
        start = 0
        for index in range(chunks):
            end = start + size + (1 if index < extra else 0)
            yield Window(index, start, end), frame.slice(start, end - start)
            start = end


def _by_period(
    frame: pl.DataFrame, time_column: str | None, every: str
) -> Iterator[tuple[Window, pl.DataFrame]]:
    if time_column is None:
        raise InputError(f"every={every!r} needs time_column= naming the column to window on")
    if time_column not in frame.columns:
        raise InputError(f"time column {time_column!r} is not in the data ({frame.columns})")
    dtype = frame.schema[time_column]
    if not isinstance(dtype, pl.Datetime | pl.Date):
        raise InputError(
            f"time column {time_column!r} has type {dtype}; windows by period need a date or "
            "datetime column"
        )
    try:
        starts = pl.col(time_column).dt.truncate(every)
        keyed = frame.with_columns(starts.alias("__window_start"))
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"every={every!r} is not a polars duration like '1h', '1d', '1w', '1mo'"
        ) from exc
    missing = keyed.get_column("__window_start").null_count()
    if missing:
        raise InputError(
            f"time column {time_column!r} has {missing} missing values; drop or fill them"
        )
    parts = keyed.partition_by("__window_start", as_dict=True, maintain_order=False)
    for index, (key, part) in enumerate(sorted(parts.items(), key=lambda item: item[0][0])):
        start = key[0]
        end = pl.select(pl.lit(start).dt.offset_by(every)).item()
        yield Window(index, start, end), part.drop("__window_start")
