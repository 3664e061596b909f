"""Category and sentinel events, the threshold machinery, and the multiple-testing helpers."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from tether.drift.binning import bin_pair
from tether.drift.column import KEYS, column_drift
from tether.drift.thresholds import NullDistribution, benjamini_hochberg, holm
from tether.errors import InputError
from tether.profile import Profile


def _pair(ref: pl.DataFrame, cur: pl.DataFrame) -> tuple[Profile, Profile]:
    reference = Profile.build(ref)
    return reference, Profile.build(cur, reference=reference)


def _event(rows: list[dict[str, object]], name: str) -> dict[str, object]:
    (row,) = [r for r in rows if r["method"] == name]
    assert set(row) == set(KEYS)
    assert row["primary"] is False
    return row


def test_holm_by_hand() -> None:
    # Sorted: 0.001 <= 0.05/5, 0.01 <= 0.05/4, 0.012 <= 0.05/3, 0.04 > 0.05/2 -> stop.
    p = [0.04, 0.001, 0.3, 0.012, 0.01]
    assert holm(p, 0.05) == [False, True, False, True, True]
    assert holm([0.02, 0.02], 0.05) == [True, True]
    assert holm([0.03, 0.2], 0.05) == [False, False]
    assert holm([], 0.05) == []


def test_benjamini_hochberg_by_hand() -> None:
    # Sorted 0.001, 0.01, 0.012, 0.04, 0.3 against 0.01, 0.02, 0.03, 0.04, 0.05: k = 4.
    p = [0.04, 0.001, 0.3, 0.012, 0.01]
    assert benjamini_hochberg(p, 0.05) == [True, True, False, True, True]
    assert benjamini_hochberg([0.02, 0.04, 0.9], 0.05) == [False, False, False]
    assert benjamini_hochberg([], 0.05) == []


def test_null_distribution_p_value_and_threshold_agree() -> None:
    draws = np.random.default_rng(0).chisquare(4, 2000)
    null = NullDistribution(draws, tail_power=1.0)
    for alpha in (0.2, 0.05, 0.01, 0.001, 1e-6):
        threshold = null.threshold(alpha)
        assert null.p_value(threshold) >= alpha
        assert null.p_value(threshold * (1 + 1e-6) + 1e-12) < alpha
    assert null.p_value(0.0) == 1.0
    # Beyond the resampled range, the fitted scaled chi-square gives the tail (here exact: chi2(4)).
    assert null.p_value(40.0) == pytest.approx(stats.chi2.sf(40.0, 4), rel=0.5)


def test_resampled_threshold_matches_the_analytic_chi_square() -> None:
    # With large expected counts the resampled chi-square null agrees with chi2(k - 1).
    from tether.drift.base import Binned
    from tether.drift.chi2 import ChiSquare
    from tether.drift.thresholds import null_distributions

    ref = np.array([4000.0, 3000.0, 2000.0, 1000.0])
    binned = Binned("c", "categorical", ref, ref, ["a", "b", "c", "d"])
    (null,) = null_distributions([ChiSquare()], binned, resamples=4000, seed=1)
    assert null.threshold(0.05) == pytest.approx(stats.chi2.isf(0.05, 3), rel=0.1)


def test_new_categories_event() -> None:
    ref = pl.DataFrame({"c": ["a"] * 600 + ["b"] * 400})
    cur = pl.DataFrame({"c": ["a"] * 550 + ["b"] * 380 + ["XYZ"] * 41 + ["Q"] * 29})
    reference, current = _pair(ref, cur)
    row = _event(column_drift(reference["c"], current["c"]), "new_categories")
    assert row["statistic"] == pytest.approx(0.07)
    assert row["significant"] is True
    assert row["drifted"] is True
    assert row["reason"] == "2 new categories in 7.0% of rows (top: 'XYZ', 'Q')"
    one = pl.DataFrame({"c": ["a"] * 550 + ["b"] * 409 + ["XYZ"] * 41})
    _, current = _pair(ref, one)
    row = _event(column_drift(reference["c"], current["c"]), "new_categories")
    assert row["reason"] == "new category 'XYZ' in 4.1% of rows"
    same = _event(column_drift(reference["c"], reference["c"]), "new_categories")
    assert same["significant"] is False
    assert same["reason"] == "no change: no new categories"


def test_vanished_categories_event() -> None:
    ref = pl.DataFrame({"c": ["a"] * 700 + ["b"] * 200 + ["c"] * 100})
    cur = pl.DataFrame({"c": ["a"] * 800 + ["b"] * 200})
    reference, current = _pair(ref, cur)
    row = _event(column_drift(reference["c"], current["c"]), "vanished_categories")
    assert row["statistic"] == pytest.approx(0.1)
    assert row["drifted"] is True
    assert "'c'" in row["reason"]
    # A rare category missing from a small current sample is expected, not an event.
    ref = pl.DataFrame({"c": ["a"] * 99_990 + ["rare"] * 10})
    cur = pl.DataFrame({"c": ["a"] * 100})
    reference, current = _pair(ref, cur)
    row = _event(column_drift(reference["c"], current["c"]), "vanished_categories")
    assert row["significant"] is False


def test_missing_rate_event_is_a_two_proportion_z_test() -> None:
    ref = pl.DataFrame({"x": [1.0] * 988 + [None] * 12})
    cur = pl.DataFrame({"x": [1.0] * 915 + [None] * 85})
    reference, current = _pair(ref, cur)
    row = _event(column_drift(reference["x"], current["x"]), "missing_rate")
    pooled = 97 / 2000
    z = (0.085 - 0.012) / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert row["statistic"] == pytest.approx(z)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert row["drifted"] is True
    assert row["reason"] == "missing rate 1.2% -> 8.5%"
    # At a million rows a tiny change is significant but below the practical floor.
    big = Profile.build(pl.DataFrame({"x": [1.0] * 980_000 + [None] * 20_000}))
    bigger = Profile.build(pl.DataFrame({"x": [1.0] * 978_000 + [None] * 22_000}), reference=big)
    row = _event(column_drift(big["x"], bigger["x"]), "missing_rate")
    assert row["significant"] is True
    assert row["drifted"] is False


def test_missing_rate_event_when_current_is_all_missing() -> None:
    ref = pl.DataFrame({"x": [1.0, 2.0, 3.0, None] * 25})
    cur = pl.DataFrame({"x": [None] * 100}, schema={"x": pl.Float64})
    reference, current = _pair(ref, cur)
    rows = column_drift(reference["x"], current["x"])
    assert rows[0]["drifted"] is False
    assert "current data are missing" in rows[0]["reason"] or "missing" in rows[0]["reason"]
    assert _event(rows, "missing_rate")["drifted"] is True


def test_zero_spike_event() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=5_000)
    ref = pl.DataFrame({"x": values})
    spiked = values.copy()
    spiked[:600] = 0.0
    reference, current = _pair(ref, pl.DataFrame({"x": spiked}))
    row = _event(column_drift(reference["x"], current["x"]), "zero_spike")
    assert row["drifted"] is True
    assert row["reason"] == "zeros 0.0% -> 12.0% of values"
    same = _event(column_drift(reference["x"], reference["x"]), "zero_spike")
    assert same["significant"] is False


def test_minus_one_spike_event() -> None:
    # A price field whose upstream starts writing -1 for "unknown" in 5% of rows.
    rng = np.random.default_rng(1)
    values = rng.normal(50, 10, 5_000)
    spiked = values.copy()
    spiked[::20] = -1.0
    reference, current = _pair(pl.DataFrame({"x": values}), pl.DataFrame({"x": spiked}))
    rows = column_drift(reference["x"], current["x"])
    row = _event(rows, "minus_one_spike")
    assert row["drifted"] is True
    assert row["reason"] == "-1 values 0.0% -> 5.0% of values"
    assert _event(rows, "zero_spike")["significant"] is False
    halves = [Profile.build(pl.DataFrame({"x": part}), reference=reference) for part in (
        spiked[:2_500], spiked[2_500:])]  # fmt: skip
    assert halves[0].merge(halves[1])["x"].numeric.minus_ones == 250


def test_current_must_be_binned_on_the_reference_edges() -> None:
    rng = np.random.default_rng(0)
    reference = Profile.build(pl.DataFrame({"x": rng.normal(size=1000)}))
    alone = Profile.build(pl.DataFrame({"x": rng.normal(size=1000)}))
    with pytest.raises(InputError, match="reference="):
        bin_pair(reference["x"], alone["x"])


def test_unknown_method_and_bad_alpha_are_clear_errors() -> None:
    reference = Profile.build(pl.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(InputError, match="unknown drift methods"):
        column_drift(reference["x"], reference["x"], methods=["nope"])
    with pytest.raises(InputError, match="alpha"):
        column_drift(reference["x"], reference["x"], alpha=1.5)


def test_boolean_and_integer_columns() -> None:
    rng = np.random.default_rng(1)
    ref = pl.DataFrame({"b": rng.random(5000) < 0.3, "i": rng.poisson(3, 5000)})
    cur = pl.DataFrame({"b": rng.random(5000) < 0.5, "i": rng.poisson(3, 5000)})
    reference, current = _pair(ref, cur)
    flag = column_drift(reference["b"], current["b"])
    assert flag[0]["method"] == "chi2"
    assert flag[0]["drifted"] is True
    assert flag[0]["kind"] == "boolean"
    count = column_drift(reference["i"], current["i"])
    assert count[0]["method"] == "ks"
    assert count[0]["significant"] is False


def test_a_full_cache_never_drops_an_answer_the_same_call_needs(monkeypatch) -> None:
    from tether.drift import thresholds

    monkeypatch.setattr(thresholds, "CACHE_SIZE", 2)
    thresholds.clear_cache()
    rng = np.random.default_rng(5)
    reference = Profile.build(pl.DataFrame({"x": rng.normal(size=2_000)}))
    for size in (500, 600, 700):
        current = Profile.build(pl.DataFrame({"x": rng.normal(size=size)}), reference=reference)
        rows = column_drift(reference["x"], current["x"], methods=["ks", "psi", "wasserstein"])
        assert len([r for r in rows if r["method"] in ("ks", "psi", "wasserstein")]) == 3
    assert len(thresholds._CACHE) == 2
    thresholds.clear_cache()
