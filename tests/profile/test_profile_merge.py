"""Merging profiles equals profiling the concatenated data (property tests)."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import assert_moments_close, exact_part
from hypothesis import given, settings
from hypothesis import strategies as st
from profile_strategies import frames

from tether.errors import InputError
from tether.profile import Profile

SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(reference=frames(), current=frames(), cut=st.floats(0, 1))
def test_merge_equals_build_of_concat(
    reference: pl.DataFrame, current: pl.DataFrame, cut: float
) -> None:
    ref = Profile.build(reference)
    split = int(cut * current.height)
    left = Profile.build(current[:split], ref)
    right = Profile.build(current[split:], ref)
    whole = Profile.build(current, ref)
    merged = left.merge(right)
    assert exact_part(merged) == exact_part(whole)
    assert_moments_close(merged, whole)
    for name in whole.columns:
        if whole[name].numeric is not None:
            assert merged[name].numeric.quantiles.n == whole[name].numeric.quantiles.n


@SETTINGS
@given(reference=frames(), current=frames(min_rows=3), max_categories=st.integers(1, 6))
def test_merge_crossing_max_categories_matches_build(
    reference: pl.DataFrame, current: pl.DataFrame, max_categories: int
) -> None:
    ref = Profile.build(reference)
    parts = [current[i::3] for i in range(3)]
    profiles = [Profile.build(p, ref, max_categories=max_categories) for p in parts]
    merged = profiles[0].merge(profiles[1]).merge(profiles[2])
    whole = Profile.build(pl.concat(parts), ref, max_categories=max_categories)
    assert exact_part(merged) == exact_part(whole)
    assert merged["carrier"].kind == whole["carrier"].kind
    cats_merged, cats_whole = merged["carrier"].categories, whole["carrier"].categories
    assert cats_merged.total == cats_whole.total
    if not cats_whole.exact:
        # Small sets keep HLL in its exact list mode, so the estimates agree to rounding.
        assert abs(cats_merged.distinct - cats_whole.distinct) <= 1


@SETTINGS
@given(reference=frames(), a=frames(), b=frames(), c=frames())
def test_merge_is_associative(
    reference: pl.DataFrame, a: pl.DataFrame, b: pl.DataFrame, c: pl.DataFrame
) -> None:
    ref = Profile.build(reference)
    pa, pb, pc = (Profile.build(x, ref, max_categories=8) for x in (a, b, c))
    left = pa.merge(pb).merge(pc)
    right = pa.merge(pb.merge(pc))
    assert exact_part(left) == exact_part(right)
    assert_moments_close(left, right)


@settings(max_examples=20, deadline=None)
@given(a=frames(), b=frames())
def test_merge_leaves_inputs_unchanged(a: pl.DataFrame, b: pl.DataFrame) -> None:
    ref = Profile.build(a)
    pa, pb = Profile.build(a, ref), Profile.build(b, ref)
    before = (pa.to_dict(), pb.to_dict())
    pa.merge(pb)
    assert (pa.to_dict(), pb.to_dict()) == before


def test_merge_without_common_reference_names_the_column() -> None:
    a = Profile.build(pl.DataFrame({"dep_delay": [1.0, 2.0, 3.0]}))
    b = Profile.build(pl.DataFrame({"dep_delay": [10.0, 20.0, 30.0]}))
    with pytest.raises(InputError, match=r"'dep_delay'.*same reference"):
        a.merge(b)


def test_merge_with_different_columns_is_refused() -> None:
    a = Profile.build(pl.DataFrame({"x": [1], "y": [2]}))
    b = Profile.build(pl.DataFrame({"x": [1], "z": [2]}))
    with pytest.raises(InputError, match=r"\['y'\] only in the first, \['z'\] only in the second"):
        a.merge(b)


def test_merge_with_different_types_is_refused() -> None:
    a = Profile.build(pl.DataFrame({"x": [1, 2]}))
    b = Profile.build(pl.DataFrame({"x": ["1", "2"]}))
    with pytest.raises(InputError, match="'x' has type Int64 in one profile and String"):
        a.merge(b)


def test_empty_side_takes_the_other_sides_edges() -> None:
    empty = Profile.build(pl.DataFrame({"x": []}, schema={"x": pl.Float64}))
    full = Profile.build(pl.DataFrame({"x": [1.0, 2.0, 2.0]}))
    merged = empty.merge(full)
    assert merged["x"].numeric.histogram.edges == full["x"].numeric.histogram.edges
    assert merged["x"].numeric.histogram.counts.tolist() == [0, 1, 2, 0]
