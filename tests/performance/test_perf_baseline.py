"""The baseline table: overall rows, segment levels, minimum sizes, missing, other, deciles."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from tether.errors import InputError
from tether.performance import baseline_metrics, bootstrap_metrics
from tether.performance.baseline import SCHEMA, segment_levels

N = 1000
RNG = np.random.default_rng(0)
P = RNG.random(N)
Y = (RNG.random(N) < P).astype(int)
NAMES = ["accuracy", "roc_auc"]


def _table(segments: pl.DataFrame | None, **kwargs: object) -> pl.DataFrame:
    return baseline_metrics(
        "binary",
        Y,
        P,
        segments=segments,
        names=NAMES,
        n_resamples=50,
        **kwargs,  # type: ignore[arg-type]
    )


def _level(table: pl.DataFrame, segment: str, value: str) -> pl.DataFrame:
    return table.filter((pl.col("segment") == segment) & (pl.col("value") == value))


def test_overall_rows_match_bootstrap_metrics() -> None:
    table = _table(None)
    assert dict(table.schema) == SCHEMA
    assert table.height == len(NAMES)
    assert table["segment"].to_list() == ["all", "all"]
    assert table["value"].to_list() == ["all", "all"]
    direct = bootstrap_metrics("binary", Y, P, names=NAMES, n_resamples=50)
    for row in table.iter_rows(named=True):
        e = direct[row["metric"]]
        assert (row["estimate"], row["low"], row["high"], row["rows"]) == (
            e.value,
            e.low,
            e.high,
            e.rows,
        )


def test_segment_levels_are_estimated_on_their_own_rows() -> None:
    region = np.where(np.arange(N) % 4 == 0, "north", "south")
    table = _table(pl.DataFrame({"region": region}))
    north = np.flatnonzero(region == "north")
    direct = bootstrap_metrics("binary", Y[north], P[north], names=NAMES, n_resamples=50)
    rows = _level(table, "region", "north")
    assert rows["rows"].to_list() == [250, 250]
    assert rows["estimate"].to_list() == [direct[m].value for m in NAMES]
    assert rows["low"].to_list() == [direct[m].low for m in NAMES]
    # levels are listed most frequent first
    assert table["value"].unique(maintain_order=True).to_list() == ["all", "south", "north"]


def test_small_levels_keep_their_rows_but_no_estimate() -> None:
    kind = np.where(np.arange(N) < 60, "rare", "common")
    table = _table(pl.DataFrame({"kind": kind}), min_segment_rows=100)
    rare = _level(table, "kind", "rare")
    assert rare["rows"].to_list() == [60, 60]
    assert rare["estimate"].null_count() == 2
    assert rare["low"].null_count() == 2
    assert rare["high"].null_count() == 2
    assert _level(table, "kind", "common")["estimate"].null_count() == 0
    lowered = _table(pl.DataFrame({"kind": kind}), min_segment_rows=50)
    assert _level(lowered, "kind", "rare")["estimate"].null_count() == 0


def test_missing_values_get_their_own_level() -> None:
    city = pl.Series("city", ["a", "b"] * (N // 2)).scatter(list(range(0, N, 5)), None)
    score = pl.Series("score", np.where(np.arange(N) % 10 == 1, np.nan, 1.0))
    table = _table(pl.DataFrame([city, score]))
    assert _level(table, "city", "(missing)")["rows"].to_list() == [200, 200]
    assert _level(table, "score", "(missing)")["rows"].to_list() == [100, 100]
    assert _level(table, "score", "1.0")["rows"].to_list() == [900, 900]


def test_levels_beyond_the_most_frequent_are_other() -> None:
    shares = {"a": 400, "b": 300, "c": 200, "d": 60, "e": 40}
    letters = np.repeat(list(shares), list(shares.values()))
    table = _table(pl.DataFrame({"letter": letters}), max_segment_levels=3)
    per_level = dict(table.filter(pl.col("segment") == "letter").select("value", "rows").rows())
    assert per_level == {"a": 400, "b": 300, "c": 200, "(other)": 100}


def test_many_distinct_numbers_are_cut_at_reference_deciles() -> None:
    age = np.random.default_rng(1).permutation(np.arange(N, dtype=float))
    table = _table(pl.DataFrame({"age": age}), max_segment_levels=50)
    levels = table.filter(pl.col("segment") == "age")["value"].unique(maintain_order=True)
    assert levels.to_list() == [
        "(-inf, 99.9)",
        "[99.9, 199.8)",
        "[199.8, 299.7)",
        "[299.7, 399.6)",
        "[399.6, 499.5)",
        "[499.5, 599.4)",
        "[599.4, 699.3)",
        "[699.3, 799.2)",
        "[799.2, 899.1)",
        "[899.1, inf)",
    ]
    assert table.filter(pl.col("segment") == "age")["rows"].unique().to_list() == [100]
    # few distinct numbers stay as their own levels
    few = _table(pl.DataFrame({"n": np.arange(N) % 3}))
    assert sorted(few.filter(pl.col("segment") == "n")["value"].unique()) == ["0", "1", "2"]


def test_segment_levels_put_each_number_in_the_interval_that_holds_it() -> None:
    values = [3.5, None, 1.0, 7.25, 2.0, float("nan"), 5.0]
    labels, codes = segment_levels(pl.Series("x", values), max_levels=2)
    assert set(codes.tolist()) == set(range(len(labels)))
    for value, code in zip(values, codes, strict=True):
        label = labels[code]
        if value is None or np.isnan(value):
            assert label == "(missing)"
            continue
        lower, upper = (float(x) for x in re.findall(r"-?inf|-?[\d.]+", label))
        assert lower <= value < upper


def test_undefined_metrics_are_null() -> None:
    only_negatives = np.where(Y == 0, "neg", "pos")
    table = _table(pl.DataFrame({"label": only_negatives}))
    assert _level(table, "label", "neg").filter(pl.col("metric") == "roc_auc")[
        "estimate"
    ].to_list() == [None]


@pytest.mark.parametrize(
    ("segments", "kwargs", "message"),
    [
        (pl.DataFrame({"a": [1, 2]}), {}, "segments has 2 rows but y_true has 1000"),
        ({"a": [1]}, {}, "segments is a dict; it must be a polars DataFrame"),
        (pl.DataFrame({"a": [[1]] * N}), {}, "segment column 'a' has type List"),
        (None, {"min_segment_rows": 0}, "min_segment_rows is 0; it must be a positive integer"),
        (None, {"max_segment_levels": 1.5}, "max_segment_levels is 1.5"),
    ],
)
def test_bad_arguments_raise_input_error(
    segments: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        _table(segments, **kwargs)  # type: ignore[arg-type]


def test_intervals_of_large_numbers_keep_distinct_labels() -> None:
    # timestamps in seconds: six significant digits would give most deciles the same label
    seconds = pl.Series("t", [1_700_000_000.0 + i for i in range(1_000)])
    labels, codes = segment_levels(seconds, max_levels=50)
    assert len(labels) == len(set(labels)) == 10
    assert np.bincount(codes).tolist() == [100] * 10
