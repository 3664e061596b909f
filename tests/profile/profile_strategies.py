"""Hypothesis strategies for frames with every column kind a profile handles."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import strategies as st

SCHEMA = {
    "reading": pl.Float64,
    "passengers": pl.Int64,
    "late": pl.Boolean,
    "carrier": pl.String,
    "departure": pl.Datetime("us"),
}

_floats = st.one_of(
    st.none(),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -0.0]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
_ints = st.one_of(st.none(), st.integers(min_value=-1000, max_value=1000))
_text = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=4),
    st.sampled_from(["AA", "UA", "日本", "Zürich"]),
)
_times = st.one_of(
    st.none(), st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1))
)


@st.composite
def frames(draw: st.DrawFn, min_rows: int = 0, max_rows: int = 30) -> pl.DataFrame:
    rows = draw(st.integers(min_value=min_rows, max_value=max_rows))
    columns = {
        "reading": draw(st.lists(_floats, min_size=rows, max_size=rows)),
        "passengers": draw(st.lists(_ints, min_size=rows, max_size=rows)),
        "late": draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=rows, max_size=rows)),
        "carrier": draw(st.lists(_text, min_size=rows, max_size=rows)),
        "departure": draw(st.lists(_times, min_size=rows, max_size=rows)),
    }
    return pl.DataFrame(columns, schema=SCHEMA)
