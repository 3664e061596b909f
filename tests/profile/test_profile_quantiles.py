"""Sampled quantile sketches: within their documented bound, mergeable, stored exactly."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from conftest import exact_part

from tether.profile import Profile
from tether.profile.quantiles import (
    KLL_RANK_ERROR,
    SAMPLE_ROWS,
    SampledQuantiles,
    sample_rows,
    sample_stride,
)

PROBABILITIES = (0.01, 0.5, 0.99)


def _rank_errors(values: np.ndarray, quantiles: SampledQuantiles) -> list[float]:
    errors = []
    for q in PROBABILITIES:
        estimate = quantiles.quantile(q)
        assert estimate is not None
        errors.append(abs(float((values <= estimate).mean()) - q))
    return errors


@pytest.fixture(scope="module")
def lognormal() -> np.ndarray:
    return np.random.default_rng(11).lognormal(size=1_000_000)


def test_sampled_quantiles_are_within_the_documented_bound(lognormal: np.ndarray) -> None:
    quantiles = Profile.build(pl.DataFrame({"x": lognormal}))["x"].numeric.quantiles
    assert list(quantiles.groups) == [16]
    assert quantiles.n == lognormal.size
    bound = quantiles.rank_error
    assert bound == pytest.approx(KLL_RANK_ERROR + 1.5 / np.sqrt(quantiles.groups[16].sketch.n))
    assert max(_rank_errors(lognormal, quantiles)) <= bound


def test_merge_across_strides_stays_within_the_bound(lognormal: np.ndarray) -> None:
    # Batches of 1M, 300k, 100k and 20k rows are sampled at 1 in 16, 8, 2 and 1.
    cuts = [0, 20_000, 120_000, 420_000, 1_420_000]
    values = np.concatenate([lognormal, lognormal[:420_000] * 1.5])
    frame = pl.DataFrame({"x": values})
    parts = [frame[a:b] for a, b in itertools.pairwise(cuts)]
    reference = Profile.build(parts[0])
    profiles = [Profile.build(part, reference) for part in parts]
    merged = profiles[0]
    for profile in profiles[1:]:
        merged = merged.merge(profile)
    quantiles = merged["x"].numeric.quantiles
    assert sorted(quantiles.groups) == [1, 2, 8, 16]
    assert [g.represented for _, g in sorted(quantiles.groups.items())] == [
        20_000,
        100_000,
        300_000,
        1_000_000,
    ]
    assert quantiles.n == values.size
    assert max(_rank_errors(values, quantiles)) <= quantiles.rank_error
    # Sampling changes nothing that is counted: the merge equals one build of all rows.
    assert exact_part(merged) == exact_part(Profile.build(frame, reference))


def test_merge_of_equal_strides_merges_their_sketches() -> None:
    values = np.random.default_rng(2).normal(size=300_000)
    stride, rows = sample_rows(values.size)
    a = SampledQuantiles().update(values[rows], stride, values.size)
    b = SampledQuantiles().update(values[rows] + 1.0, stride, values.size)
    merged = a.merge(b)
    assert list(merged.groups) == [stride]
    assert merged.n == 2 * values.size
    assert merged.groups[stride].sketch.n == 2 * rows.size
    assert (a.n, b.n) == (values.size, values.size)


def test_rank_weighs_groups_by_what_they_represent() -> None:
    low = SampledQuantiles().update(np.zeros(100), stride=1)
    high = SampledQuantiles().update(np.ones(100), stride=4, represented=300)
    merged = low.merge(high)
    assert merged.rank(0.0) == pytest.approx(0.25)
    assert merged.rank(0.0, inclusive=False) == 0.0
    assert (merged.quantile(0.2), merged.quantile(0.3)) == (0.0, 1.0)


def test_every_row_is_sampled_with_probability_one_over_stride() -> None:
    rows = 1_000_003
    stride, indices = sample_rows(rows)
    assert stride == sample_stride(rows) == 16
    assert indices is not None
    assert indices.max() < rows
    assert indices.size <= -(-rows // stride)
    # One row per block of ``stride`` rows, drawn uniformly inside it.
    blocks = indices // stride
    assert np.array_equal(blocks, np.unique(blocks))
    assert np.array_equal(sample_rows(rows)[1], indices)
    assert sample_rows(SAMPLE_ROWS) == (1, None)


def test_sparse_column_in_a_sampled_batch_is_sketched_whole() -> None:
    rng = np.random.default_rng(4)
    values = np.full(500_000, np.nan)
    values[rng.choice(values.size, 1_000, replace=False)] = rng.normal(size=1_000)
    column = Profile.build(pl.DataFrame({"x": values}))["x"]
    quantiles = column.numeric.quantiles
    assert list(quantiles.groups) == [1]
    assert quantiles.groups[1].sketch.n == quantiles.n == 1_000
    assert column.numeric.nan == 499_000
    finite = values[np.isfinite(values)]
    assert column.quantile(0.5) == pytest.approx(np.median(finite), abs=0.1)


def test_round_trip_keeps_every_group() -> None:
    rng = np.random.default_rng(8)
    big = pl.DataFrame({"x": rng.normal(size=200_000)})
    reference = Profile.build(big.head(1_000))
    merged = Profile.build(big.head(1_000), reference).merge(Profile.build(big, reference))
    assert sorted(merged["x"].numeric.quantiles.groups) == [1, 4]
    restored = Profile.from_json(merged.to_json())
    assert restored.to_dict() == merged.to_dict()
    assert restored["x"].quantile(0.5) == merged["x"].quantile(0.5)
    assert restored["x"].numeric.quantiles.rank_error == merged["x"].numeric.quantiles.rank_error
