"""Shared helpers for the profile tests."""

from __future__ import annotations

import math
from typing import Any

from tether.profile import Profile

APPROXIMATE = {"quantiles", "mean", "m2", "frequent_items", "distinct"}
"""Keys of ``Profile.to_dict`` holding float moments or sketches, which merge only within error."""


def exact_part(profile: Profile) -> Any:
    """``profile.to_dict()`` without the float moments and sketches: what must merge exactly."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in APPROXIMATE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(profile.to_dict())


def assert_moments_close(left: Profile, right: Profile) -> None:
    """Means and standard deviations agree to float rounding."""
    for name, column in left.columns.items():
        other = right[name]
        if column.numeric is None:
            continue
        a, b = column.numeric.moments, other.numeric.moments
        assert a.count == b.count
        for x, y in ((a.mean, b.mean), (a.std, b.std)):
            assert (x is None) == (y is None), name
            if x is not None:
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (name, x, y)
