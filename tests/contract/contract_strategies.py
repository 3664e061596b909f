"""Hypothesis strategies shared by the contract tests."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import strategies as st

INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
TEXT = st.text(max_size=12)
UTC_DATETIMES = st.datetimes(
    min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(3000, 1, 1), timezones=st.just(dt.UTC)
)
DATES = st.dates()


def column_values(kind: str, rows: int) -> st.SearchStrategy[list[object]]:
    """``rows`` values of one kind, some of them missing."""
    base = {
        "int": INT64,
        "float": FLOATS,
        "string": TEXT,
        "bool": st.booleans(),
        "date": DATES,
        "datetime": UTC_DATETIMES,
    }[kind]
    return st.lists(st.none() | base, min_size=rows, max_size=rows)


POLARS_TYPES = {
    "int": pl.Int64,
    "float": pl.Float64,
    "string": pl.String,
    "bool": pl.Boolean,
    "date": pl.Date,
    "datetime": pl.Datetime("us", "UTC"),
}


@st.composite
def frames(draw: st.DrawFn, max_rows: int = 30) -> pl.DataFrame:
    """Frames of mixed column kinds with missing values, NaN, inf and unicode."""
    rows = draw(st.integers(0, max_rows))
    kinds = draw(st.lists(st.sampled_from(sorted(POLARS_TYPES)), min_size=1, max_size=6))
    data = {f"c{i}_{kind}": draw(column_values(kind, rows)) for i, kind in enumerate(kinds)}
    schema = {name: POLARS_TYPES[name.split("_", 1)[1]] for name in data}
    return pl.DataFrame(data, schema=schema)
