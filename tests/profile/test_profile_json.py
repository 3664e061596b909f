"""Profiles survive JSON exactly, and broken JSON gives the right error."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from profile_strategies import frames

from tether.errors import FormatError, UnsupportedVersionError
from tether.profile import Profile


@settings(max_examples=40, deadline=None)
@given(frame=frames(), max_categories=st.sampled_from([2, 1000]))
def test_json_round_trip_is_exact(frame: pl.DataFrame, max_categories: int) -> None:
    profile = Profile.build(frame, max_categories=max_categories)
    assert Profile.from_json(profile.to_json()).to_dict() == profile.to_dict()


def test_json_round_trip_through_a_file(tmp_path: Path) -> None:
    profile = Profile.build(pl.DataFrame({"x": [1.5, 2.5], "s": ["a", "ü"]}))
    path = tmp_path / "profile.json"
    profile.to_json(path)
    assert Profile.from_json(path).to_dict() == profile.to_dict()
    assert Profile.from_json(str(path)).to_dict() == profile.to_dict()


def test_non_finite_floats_survive_json() -> None:
    # The squared deviations of +-1e308 overflow to infinity.
    profile = Profile.build(pl.DataFrame({"x": [1e308, -1e308]}))
    assert profile["x"].numeric.moments.m2 == float("inf")
    text = profile.to_json()
    assert '"m2": "Infinity"' in text
    assert Profile.from_json(text).to_dict() == profile.to_dict()


def test_json_marks_format_and_version() -> None:
    data = json.loads(Profile.build(pl.DataFrame({"x": [1]})).to_json())
    assert (data["format"], data["format_version"]) == ("tether-profile", 1)


def _document() -> dict:
    return json.loads(Profile.build(pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})).to_json())


def test_newer_format_version_is_unsupported() -> None:
    data = _document()
    data["format_version"] = 2
    with pytest.raises(UnsupportedVersionError, match="format_version 2"):
        Profile.from_dict(data)


def test_invalid_json_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="not valid JSON"):
        Profile.from_json('{"format": "tether-profile", ')


def test_wrong_format_name_is_a_format_error() -> None:
    data = _document()
    data["format"] = "something-else"
    with pytest.raises(FormatError, match="format must be 'tether-profile'"):
        Profile.from_dict(data)


def test_missing_key_names_its_path() -> None:
    data = _document()
    del data["columns"][1]["count"]
    with pytest.raises(FormatError, match=r"columns\[1\]\.count is missing"):
        Profile.from_dict(data)


def test_wrong_type_names_its_path_and_value() -> None:
    data = _document()
    data["columns"][0]["numeric"]["histogram"]["counts"] = ["many"]
    with pytest.raises(FormatError, match=r"columns\[0\]\.numeric\.histogram\.counts must be"):
        Profile.from_dict(data)


def test_corrupt_sketch_is_a_format_error() -> None:
    data = _document()
    data["columns"][0]["numeric"]["quantiles"][0]["sketch"] = "bm90IGEgc2tldGNo"
    with pytest.raises(
        FormatError, match=r"columns\[0\]\.numeric\.quantiles\[0\]\.sketch is not a valid"
    ):
        Profile.from_dict(data)


def test_quantiles_are_written_as_groups_by_stride() -> None:
    data = _document()
    (group,) = data["columns"][0]["numeric"]["quantiles"]
    assert (group["stride"], group["represented"], type(group["sketch"])) == (1, 2, str)
    data["columns"][0]["numeric"]["quantiles"].append(dict(group))
    with pytest.raises(FormatError, match=r"quantiles\[1\]\.stride must be different"):
        Profile.from_dict(data)
    group["stride"] = 3
    with pytest.raises(FormatError, match=r"quantiles\[0\]\.stride must be a power of two"):
        Profile.from_dict(data)


def test_histogram_counts_must_match_edges() -> None:
    data = _document()
    data["columns"][0]["numeric"]["histogram"]["counts"].append(0)
    with pytest.raises(FormatError, match="one per bin"):
        Profile.from_dict(data)


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(FormatError, match="must be an object, got list"):
        Profile.from_json("[1, 2]")
