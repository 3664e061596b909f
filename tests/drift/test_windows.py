"""Cutting current data into windows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tether.drift.windows import split
from tether.errors import InputError


def hourly(days: int) -> pl.DataFrame:
    start = dt.datetime(2013, 1, 1, tzinfo=dt.UTC)
    stamps = pl.datetime_range(start, start + dt.timedelta(hours=24 * days - 1), "1h", eager=True)
    return pl.DataFrame({"time_hour": stamps, "x": range(24 * days)})


def test_time_windows_cover_every_row_once_in_period_order():
    frame = hourly(3).sample(fraction=1.0, shuffle=True, seed=1)
    windows = list(split(frame, time_column="time_hour", every="1d"))
    assert [w.index for w, _ in windows] == [0, 1, 2]
    assert [part.height for _, part in windows] == [24, 24, 24]
    assert windows[0][0].start == dt.datetime(2013, 1, 1, tzinfo=dt.UTC)
    assert windows[0][0].end == dt.datetime(2013, 1, 2, tzinfo=dt.UTC)
    assert sorted(pl.concat(part for _, part in windows)["x"].to_list()) == list(range(72))
    assert all(w.start <= part["time_hour"].min() < w.end for w, part in windows)
    assert "__window_start" not in windows[0][1].columns


def test_row_windows_and_chunks_keep_order_and_every_row():
    frame = pl.DataFrame({"x": range(10)})
    rows = list(split(frame, rows=3))
    assert [(w.start, w.end) for w, _ in rows] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    chunks = list(split(frame, chunks=4))
    assert [part.height for _, part in chunks] == [3, 3, 2, 2]
    assert pl.concat(part for _, part in chunks).equals(frame)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "choose exactly one"),
        ({"rows": 3, "chunks": 2}, "choose exactly one"),
        ({"every": "1d"}, "needs time_column"),
        ({"every": "1d", "time_column": "nope"}, "'nope' is not in the data"),
        ({"every": "1d", "time_column": "x"}, "need a date or datetime"),
        ({"every": "soon", "time_column": "time_hour"}, "not a polars duration"),
        ({"rows": 0}, "rows must be at least 1"),
        ({"chunks": 1000}, "more than the 48 rows"),
    ],
)
def test_bad_window_requests_are_clear_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        list(split(hourly(2), **kwargs))


def test_missing_times_are_an_error_not_a_lost_window():
    frame = hourly(1).with_columns(
        pl.when(pl.col("x") == 3).then(None).otherwise(pl.col("time_hour")).alias("time_hour")
    )
    with pytest.raises(InputError, match="1 missing values"):
        list(split(frame, time_column="time_hour", every="1d"))
