"""The battery every drift method passes, parametrized over the registry (like check_estimator)."""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import pytest
from drift_helpers import (
    CATEGORY_SHARES,
    categorical_binned,
    evaluate,
    normal_bin_shares,
    numeric_binned,
    numeric_reference,
)

from tether.drift.base import DriftMethod
from tether.drift.column import KEYS, column_drift
from tether.drift.methods import DEFAULT_METHODS, METHODS
from tether.profile import Profile

NUMERIC = sorted(name for name, cls in METHODS.items() if "numeric" in cls.kinds)
CATEGORICAL = sorted(name for name, cls in METHODS.items() if "categorical" in cls.kinds)
ALL = sorted(METHODS)


def _kind(name: str) -> str:
    return "numeric" if "numeric" in METHODS[name].kinds else "categorical"


def _frames(kind: str, n: int, shift: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        return (
            pl.DataFrame({"v": rng.normal(size=n)}),
            pl.DataFrame({"v": rng.normal(shift, 1.0, size=n)}),
        )
    moved = np.array([0.4, 0.3, 0.2, 0.1])
    base = moved.copy()
    base[0], base[1] = base[0] - shift, base[1] + shift
    names = np.array(["a", "b", "c", "d"])
    return (
        pl.DataFrame({"v": names[rng.choice(4, size=n, p=base)]}),
        pl.DataFrame({"v": names[rng.choice(4, size=n, p=moved)]}),
    )


def _rows(name: str, ref: pl.DataFrame, cur: pl.DataFrame, **kw: object) -> list[dict[str, object]]:
    reference = Profile.build(ref)
    current = Profile.build(cur, reference=reference)
    return column_drift(reference["v"], current["v"], methods=[name], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ALL)
def test_method_shape(name: str) -> None:
    cls = METHODS[name]
    assert issubclass(cls, DriftMethod)
    assert cls.name == name
    assert cls.kinds
    assert cls.kinds <= {"numeric", "categorical"}
    assert cls.min_effect > 0
    assert cls.__doc__
    assert "Example" in cls.__doc__
    assert "References" in cls.__doc__
    method = cls()
    ref = np.array([10.0, 20.0, 30.0, 40.0])
    batch = np.array([[10.0, 20.0, 30.0, 40.0], [40.0, 30.0, 20.0, 10.0], [0.0, 0.0, 50.0, 50.0]])
    vectorized = method.statistic(ref, batch)
    assert vectorized.shape == (3,)
    one_by_one = [float(method.statistic(ref, row)) for row in batch]
    np.testing.assert_allclose(vectorized, one_by_one)
    assert np.all(np.isfinite(vectorized))


@pytest.mark.parametrize("name", ALL)
def test_identical_inputs_give_no_drift(name: str) -> None:
    ref, _ = _frames(_kind(name), 5_000, 0.0, seed=1)
    rows = _rows(name, ref, ref)
    row = rows[0]
    assert set(row) == set(KEYS)
    assert row["method"] == name
    assert row["primary"] is True
    assert abs(row["statistic"]) < 1e-9
    assert row["significant"] is False
    assert row["drifted"] is False
    assert row["reason"] == "no drift"


@pytest.mark.parametrize("name", ALL)
def test_planted_shift_gives_drift(name: str) -> None:
    # numeric: +0.5 sd at 10k rows; categorical: one category's share moved 10 points.
    shift = 0.5 if _kind(name) == "numeric" else 0.1
    ref, cur = _frames(_kind(name), 10_000, shift, seed=2)
    row = _rows(name, ref, cur)[0]
    assert row["significant"] is True
    assert row["drifted"] is True, row
    assert row["p_value"] < 1e-3
    assert row["effect"] >= row["min_effect"]
    if _kind(name) == "numeric":
        assert re.fullmatch(r"mean moved \+0\.(4[5-9]|5\d) sd", row["reason"]), row["reason"]
    else:
        assert re.fullmatch(r"share of '[ab]' \d+\.\d% -> \d+\.\d%", row["reason"]), row["reason"]


@pytest.mark.parametrize("name", [n for n in ALL if METHODS[n].symmetric])
def test_symmetric_methods_are_symmetric(name: str) -> None:
    rng = np.random.default_rng(3)
    method = METHODS[name]()
    for _ in range(5):
        a, b = rng.integers(0, 50, 6).astype(float), rng.integers(0, 500, 6).astype(float)
        assert math.isclose(
            float(method.statistic(a, b)), float(method.statistic(b, a)), rel_tol=1e-9
        )


def test_kl_is_not_symmetric() -> None:
    method = METHODS["kl_divergence"]()
    a, b = np.array([90.0, 10.0]), np.array([50.0, 50.0])
    assert float(method.statistic(a, b)) != pytest.approx(float(method.statistic(b, a)))


EDGE_CASES = {
    "empty": ([], [1.0, 2.0, 3.0]),
    "all missing": ([None, None, None], [1.0, 2.0, 3.0]),
    "current all missing": ([1.0, 2.0, 3.0, 4.0], [None, None]),
    "constant": ([5.0] * 50, [5.0] * 40),
    "single value": ([1.0, 2.0, 3.0, 4.0, 5.0] * 10, [3.0]),
}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_columns_give_a_clear_non_drift(name: str, case: str) -> None:
    ref_values, cur_values = EDGE_CASES[case]
    if _kind(name) == "numeric":
        ref = pl.DataFrame({"v": ref_values}, schema={"v": pl.Float64})
        cur = pl.DataFrame({"v": cur_values}, schema={"v": pl.Float64})
    else:
        text = {None: None}
        ref = pl.DataFrame(
            {"v": [text.get(v, f"c{v}") for v in ref_values]}, schema={"v": pl.String}
        )
        cur = pl.DataFrame(
            {"v": [text.get(v, f"c{v}") for v in cur_values]}, schema={"v": pl.String}
        )
    rows = _rows(name, ref, cur)
    row = rows[0]
    assert row["significant"] is False
    assert row["drifted"] is False
    assert isinstance(row["reason"], str)
    assert row["reason"]
    if case in {"empty", "all missing", "current all missing"}:
        assert row["reason"].startswith("no drift test:"), row["reason"]
        assert row["threshold"] is None
        assert row["p_value"] is None
    if case == "constant":
        assert "constant" in row["reason"]
    for other in rows:
        assert isinstance(other["significant"], bool)
        assert isinstance(other["drifted"], bool)


# False alarms under the null, at the profile level: the reference profile of each size gives
# the bin edges; each trial draws fresh reference and current counts from the true population.
# A single fixed reference would measure the rate *given that reference*, which varies around
# alpha from one reference to another; the guarantee is over both samples, as for any
# two-sample test.
ALPHA = 0.05
TRIALS = 200
TOLERANCE = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / TRIALS)
SIZES = [(1_000, 1_000), (100_000, 100_000), (1_000_000, 1_000_000), (100_000, 1_000_000)]


def _false_alarms(kind: str, n_ref: int, n_cur: int) -> dict[str, float]:
    names = NUMERIC if kind == "numeric" else CATEGORICAL
    rng = np.random.default_rng([n_ref, n_cur])
    if kind == "numeric":
        edges = numeric_reference(min(n_ref, 100_000)).numeric.histogram.edges
        population = normal_bin_shares(edges)
    else:
        population = CATEGORY_SHARES
    hits = dict.fromkeys(names, 0)
    for trial in range(TRIALS):
        ref = rng.multinomial(n_ref, population).astype(float)
        cur = rng.multinomial(n_cur, population).astype(float)
        binned = (
            numeric_binned(ref, cur, edges) if kind == "numeric" else categorical_binned(ref, cur)
        )
        for name in names:
            _, _, p_value = evaluate(METHODS[name](), binned, ALPHA, seed=trial, resamples=1000)
            hits[name] += p_value < ALPHA
    return {name: count / TRIALS for name, count in hits.items()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["numeric", "categorical"])
@pytest.mark.parametrize(("n_ref", "n_cur"), SIZES)
def test_false_alarm_rate_respects_alpha(kind: str, n_ref: int, n_cur: int) -> None:
    rates = _false_alarms(kind, n_ref, n_cur)
    assert all(rate <= TOLERANCE for rate in rates.values()), rates


@pytest.mark.parametrize("name", NUMERIC)
def test_power_on_small_location_shifts(name: str) -> None:
    # A 0.1 sd shift is significant at 10k rows and a 0.05 sd shift at 100k.
    for n, shift in ((10_000, 0.1), (100_000, 0.05)):
        reference = numeric_reference(n, seed=5)
        edges = reference.numeric.histogram.edges
        rng = np.random.default_rng(6)
        cur = rng.multinomial(n, normal_bin_shares(edges, shift)).astype(float)
        binned = numeric_binned(reference.numeric.histogram.counts.astype(float), cur, edges)
        _, _, p_value = evaluate(METHODS[name](), binned, 0.01)
        assert p_value < 0.01, (name, n, shift, p_value)


def test_defaults_start_with_a_method_of_their_kind() -> None:
    for kind, names in DEFAULT_METHODS.items():
        assert names
        assert all(kind in METHODS[name].kinds for name in names)


@pytest.mark.slow
def test_long_tailed_categories_do_not_raise_false_alarms() -> None:
    # Zipf-distributed ids: most categories are rare, so any binning chosen on the reference's
    # counts alone keeps the lucky ones and flags the winner's curse as drift. 60 trials of
    # 20k reference rows against 100k current rows from the same population.
    rng = np.random.default_rng(11)
    trials, alarms = 60, 0
    for _ in range(trials):
        codes = (rng.zipf(1.3, 120_000) - 1) % 3_000
        names = pl.Series("v", codes).cast(pl.String)
        reference = Profile.build(names[:20_000].to_frame(), max_categories=5_000)
        current = Profile.build(
            names[20_000:].to_frame(), reference=reference, max_categories=5_000
        )
        row = column_drift(reference["v"], current["v"], methods=["chi2"], alpha=ALPHA)[0]
        alarms += bool(row["significant"])
    assert alarms / trials <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / trials), alarms
