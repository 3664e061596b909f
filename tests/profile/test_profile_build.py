"""What a single build records, on ordinary and awkward columns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from conftest import exact_part

from tether.errors import InputError
from tether.profile import Profile
from tether.profile.categorical import HLL_LG_K


def test_counts_missing_nan_inf_and_moments_match_numpy() -> None:
    values = [1.0, float("nan"), float("inf"), None, -2.5, 0.0, float("-inf"), 4.0]
    column = Profile.build(pl.DataFrame({"x": values}))["x"]
    finite = np.array([1.0, -2.5, 0.0, 4.0])
    assert (column.count, column.missing, column.numeric.nan, column.numeric.inf) == (8, 1, 1, 2)
    assert (column.numeric.zeros, column.numeric.negatives) == (1, 1)
    assert (column.min, column.max) == (-2.5, 4.0)
    assert column.mean == pytest.approx(finite.mean())
    assert column.std == pytest.approx(finite.std(ddof=1))
    assert int(column.numeric.histogram.counts.sum()) == 4


def test_columns_keep_data_order_and_kinds() -> None:
    frame = pl.DataFrame(
        {
            "z_float": [1.5],
            "a_int": [1],
            "flag": [True],
            "carrier": ["AA"],
            "code": pl.Series(["x"], dtype=pl.Categorical),
            "when": [dt.datetime(2024, 1, 1)],
            "day": [dt.date(2024, 1, 1)],
        }
    )
    profile = Profile.build(frame)
    assert list(profile.columns) == frame.columns
    kinds = [c.kind for c in profile.columns.values()]
    assert kinds == [
        "numeric", "integer", "boolean", "categorical", "categorical", "datetime", "datetime"
    ]  # fmt: skip
    assert profile.summary()["column"].to_list() == frame.columns


def test_empty_frame_profiles_to_zero_counts() -> None:
    frame = pl.DataFrame(schema={"x": pl.Float64, "s": pl.String, "b": pl.Boolean})
    profile = Profile.build(frame)
    assert profile.rows == 0
    assert [c.count for c in profile.columns.values()] == [0, 0, 0]
    assert profile["x"].numeric.histogram is None
    summary = profile.summary()
    assert summary.height == 3
    assert summary["missing_rate"].is_null().all()


def test_one_row() -> None:
    profile = Profile.build(pl.DataFrame({"x": [7], "s": ["only"]}))
    assert (profile["x"].min, profile["x"].max, profile["x"].std) == (7, 7, None)
    assert profile["x"].quantile(0.5) == 7.0
    assert profile["s"].categories.counts == {"only": 1}


def test_all_missing_columns() -> None:
    frame = pl.DataFrame({"x": [None, None]}, schema={"x": pl.Float64}).with_columns(
        nothing=pl.lit(None)
    )
    profile = Profile.build(frame)
    assert profile["x"].missing_rate == 1.0
    assert profile["x"].mean is None
    assert profile["x"].numeric.histogram is None
    assert profile["nothing"].dtype == "Null"
    assert profile["nothing"].missing == 2
    assert profile["nothing"].distinct == 0


def test_constant_column_gets_one_bin_for_its_value() -> None:
    column = Profile.build(pl.DataFrame({"x": [3.0] * 10}))["x"]
    assert column.numeric.histogram.edges == (3.0, np.nextafter(3.0, np.inf))
    assert column.numeric.histogram.counts.tolist() == [0, 10, 0]
    assert column.std == 0.0


def test_few_distinct_values_get_one_bin_each() -> None:
    values = [1, 5, 5, 9, 9, 9]
    column = Profile.build(pl.DataFrame({"x": values}))["x"]
    assert column.numeric.histogram.edges[:3] == (1.0, 5.0, 9.0)
    assert column.numeric.histogram.counts.tolist() == [0, 1, 2, 3, 0]


def test_many_distinct_values_get_quantile_edges() -> None:
    values = np.random.default_rng(1).normal(size=10_000)
    hist = Profile.build(pl.DataFrame({"x": values}), bins=10)["x"].numeric.histogram
    assert len(hist.edges) == 11
    assert hist.edges[0] == values.min()
    assert (hist.counts[0], hist.counts[-1]) == (0, 0)
    assert np.all(np.abs(hist.counts[1:-1] / 10_000 - 0.1) < 0.01)


def test_unicode_strings_are_counted_and_measured_in_characters() -> None:
    values = ["日本", "Zürich", "日本", "🙂", ""]
    column = Profile.build(pl.DataFrame({"city": values}))["city"]
    assert column.categories.counts == {"日本": 2, "Zürich": 1, "🙂": 1, "": 1}
    lengths = column.categories.lengths
    assert (lengths.min, lengths.max, lengths.total) == (0, 6, 11)


def test_huge_strings() -> None:
    huge = "x" * 2_000_000
    profile = Profile.build(pl.DataFrame({"blob": [huge, "small"]}))
    assert profile["blob"].categories.lengths.max == 2_000_000
    assert Profile.from_json(profile.to_json()).to_dict() == profile.to_dict()


def test_high_cardinality_column_switches_to_sketches_within_error() -> None:
    rng = np.random.default_rng(42)
    distinct = 50_000
    values = np.concatenate(
        [np.char.add("id", np.arange(distinct).astype(str)), np.full(20_000, "heavy")]
    )
    rng.shuffle(values)
    column = Profile.build(pl.DataFrame({"user": values}), max_categories=1000)["user"]
    assert column.kind == "string"
    relative_error = abs(column.distinct - (distinct + 1)) / (distinct + 1)
    # Three relative standard errors of HLL_8 at lg_k = 12 (about 1.3% each).
    assert relative_error < 3 * 1.04 / np.sqrt(2**HLL_LG_K)
    top_value, top_count = column.categories.items()[0]
    assert top_value == "heavy"
    epsilon = column.categories.frequent.epsilon * values.size
    assert abs(top_count - 20_000) <= epsilon
    assert column.categories.other == values.size - top_count


def test_kll_median_is_within_documented_rank_error() -> None:
    values = np.random.default_rng(3).exponential(size=100_000)
    column = Profile.build(pl.DataFrame({"x": values}))["x"]
    median = column.quantile(0.5)
    # 100k rows are sampled at one in two, so the bound is the KLL error plus the sampling term.
    assert abs((values < median).mean() - 0.5) <= column.numeric.quantiles.rank_error


def test_datetimes_are_shown_as_datetimes() -> None:
    times = [dt.datetime(2024, 1, d) for d in (1, 2, 3)]
    column = Profile.build(pl.DataFrame({"when": times}))["when"]
    assert (column.min, column.max, column.mean) == (times[0], times[2], times[1])
    assert column.numeric.min == int(pl.Series(times[:1]).to_physical()[0])


def test_parquet_in_batches_equals_in_memory_build_with_same_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frame = pl.DataFrame(
        {
            "delay": np.where(rng.random(10_000) < 0.05, np.nan, rng.normal(size=10_000)),
            "carrier": rng.choice(["AA", "UA", "DL"], 10_000),
            "late": rng.random(10_000) < 0.3,
        }
    )
    path = tmp_path / "flights.parquet"
    frame.write_parquet(path)
    reference = Profile.build(frame.head(500))
    batched = Profile.build(path, reference, batch_rows=1_000)
    in_memory = Profile.build(frame, reference)
    assert exact_part(batched) == exact_part(in_memory)


def test_batched_build_takes_edges_from_the_first_batch(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": np.random.default_rng(6).normal(size=5_000)})
    frame.write_parquet(tmp_path / "x.parquet")
    batched = Profile.build(tmp_path / "x.parquet", batch_rows=1_000)
    first = Profile.build(frame.head(1_000))
    assert batched["x"].numeric.histogram.edges == first["x"].numeric.histogram.edges
    assert batched["x"].count == 5_000


def test_iterable_of_frames_and_arrow_table() -> None:
    frame = pl.DataFrame({"x": [1, 2, 3, 4]})
    reference = Profile.build(frame)
    from_parts = Profile.build([frame.head(2), frame.tail(2)], reference)
    from_arrow = Profile.build(pa.table({"x": [1, 2, 3, 4]}), reference)
    assert exact_part(from_parts) == exact_part(from_arrow)


def test_type_change_between_batches_is_refused() -> None:
    with pytest.raises(InputError, match="'x' changed type between batches: Int64 then String"):
        Profile.build([pl.DataFrame({"x": [1]}), pl.DataFrame({"x": ["a"]})])


def test_unsupported_column_type_is_named() -> None:
    with pytest.raises(InputError, match="'tags' has type List"):
        Profile.build(pl.DataFrame({"tags": [[1, 2]]}))


def test_invalid_arguments() -> None:
    frame = pl.DataFrame({"x": [1]})
    with pytest.raises(InputError, match="bins must be at least 1, got 0"):
        Profile.build(frame, bins=0)
    with pytest.raises(InputError, match="max_categories must be at least 1"):
        Profile.build(frame, max_categories=0)
    with pytest.raises(InputError, match="no batches"):
        Profile.build([])
    with pytest.raises(InputError, match="'y' is not in the profile"):
        Profile.build(frame)["y"]


def test_histogram_on_reference_edges_matches_searchsorted_on_finite_values() -> None:
    rng = np.random.default_rng(9)
    edges = (-1.0, 0.0, 0.5, 2.0)
    values = rng.choice([*edges, np.nan, np.inf, -np.inf, -3.0, 0.25, 1.0, 9.0], size=5_000)
    reference = Profile.build(pl.DataFrame({"x": [-1.0, 0.0, 0.5, 2.0]}))
    assert reference["x"].numeric.histogram.edges[:3] == edges[:3]
    frame = pl.DataFrame({"x": values}).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    histogram = Profile.build(frame, reference)["x"].numeric.histogram
    finite = frame["x"].drop_nulls().to_numpy()
    finite = finite[np.isfinite(finite)]
    # Bins (-inf, e0), [e0, e1), ..., [ek, +inf): a value equal to an edge starts that edge's bin.
    index = np.searchsorted(np.asarray(histogram.edges), finite, side="right")
    expected = np.bincount(index, minlength=len(histogram.edges) + 1)
    assert histogram.counts.tolist() == expected.tolist()
