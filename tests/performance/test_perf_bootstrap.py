"""Bootstrap intervals: sampling theory, NaN resamples, seeds, chunking and arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tether.performance.bootstrap as bootstrap
from tether.errors import InputError
from tether.performance import Estimate, bootstrap_metrics, compute_metrics
from tether.performance.bootstrap import resample_counts


def _bernoulli_accuracy(rate: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary data whose predictions are right with probability ``rate``, independently."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    correct = rng.random(n) < rate
    predicted = np.where(correct, y, 1 - y)
    return y, np.where(predicted == 1, 0.9, 0.1)


def test_accuracy_interval_width_matches_binomial_theory() -> None:
    y, s = _bernoulli_accuracy(0.8, 1000, seed=0)
    estimate = bootstrap_metrics("binary", y, s, names=["accuracy"], n_resamples=400)["accuracy"]
    accuracy = estimate.value
    expected = 2 * 1.96 * math.sqrt(accuracy * (1 - accuracy) / 1000)
    assert estimate.high - estimate.low == pytest.approx(expected, rel=0.2)
    assert estimate.low < accuracy < estimate.high
    assert estimate.rows == 1000


def test_interval_covers_the_true_accuracy_about_95_percent_of_the_time() -> None:
    covered = 0
    for seed in range(100):
        y, s = _bernoulli_accuracy(0.8, 400, seed=seed)
        e = bootstrap_metrics("binary", y, s, names=["accuracy"], n_resamples=200, seed=seed)
        covered += e["accuracy"].low <= 0.8 <= e["accuracy"].high
    # binomial sd of the coverage over 100 trials is ~2.2 points; percentile intervals of a
    # discrete statistic run a little short, so allow ~3 sd below 95%
    assert covered >= 88


def test_point_value_is_the_metric_on_all_rows() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    s = y + rng.normal(size=500)
    estimates = bootstrap_metrics("regression", y, s, n_resamples=50)
    plain = compute_metrics("regression", y, s)
    assert {name: e.value for name, e in estimates.items()} == pytest.approx(plain, rel=1e-12)
    for e in estimates.values():
        assert e.low <= e.high


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    y, s = _bernoulli_accuracy(0.7, 300, seed=2)
    first = bootstrap_metrics("binary", y, s, names=["roc_auc"], seed=5)
    again = bootstrap_metrics("binary", y, s, names=["roc_auc"], seed=5)
    other = bootstrap_metrics("binary", y, s, names=["roc_auc"], seed=6)
    assert first == again
    assert first["roc_auc"].low != other["roc_auc"].low


def test_chunking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=200)
    y = rng.integers(0, 3, 200)
    whole = bootstrap_metrics("multiclass", y, p, n_resamples=30)
    monkeypatch.setattr(bootstrap, "CHUNK_BYTES", 7 * 8 * 200)
    chunked = bootstrap_metrics("multiclass", y, p, n_resamples=30)
    for name, estimate in whole.items():
        # the same resamples; only the summation order of the matrix products differs
        assert chunked[name].to_dict() == pytest.approx(estimate.to_dict(), rel=1e-12)


def test_undefined_metric_gives_nan_value_and_interval() -> None:
    y = np.zeros(50, dtype=int)
    s = np.linspace(0.0, 1.0, 50)
    estimate = bootstrap_metrics("binary", y, s, names=["roc_auc", "accuracy"])
    assert math.isnan(estimate["roc_auc"].value)
    assert math.isnan(estimate["roc_auc"].low)
    assert math.isnan(estimate["roc_auc"].high)
    assert estimate["roc_auc"].to_dict() == {"value": None, "low": None, "high": None, "rows": 50}
    assert estimate["accuracy"].value == 0.5
    assert estimate["accuracy"].low < 0.5 < estimate["accuracy"].high


def test_resamples_where_the_metric_is_undefined_are_dropped() -> None:
    # one positive in 200 rows: ~37% of resamples lose it and ROC AUC is undefined there
    y = np.zeros(200, dtype=int)
    y[0] = 1
    s = np.linspace(0.0, 1.0, 200)
    estimate = bootstrap_metrics("binary", y, s, names=["roc_auc"], n_resamples=300)["roc_auc"]
    assert estimate.value == 0.0
    assert estimate.low == estimate.high == 0.0


def test_resample_counts_are_multinomial() -> None:
    counts = resample_counts(np.random.default_rng(5), np.empty((4000, 10)))
    assert np.all(counts.sum(axis=1) == 10)
    # Multinomial(10, 1/10): mean 1, variance 0.9, covariance -0.1 (standard errors ~0.02)
    np.testing.assert_allclose(counts.mean(axis=0), 1.0, atol=0.07)
    np.testing.assert_allclose(counts.var(axis=0), 0.9, atol=0.1)
    assert np.cov(counts.T)[0, 1] == pytest.approx(-0.1, abs=0.05)


def test_estimate_to_dict() -> None:
    assert Estimate(0.5, 0.4, 0.6, 10).to_dict() == {
        "value": 0.5,
        "low": 0.4,
        "high": 0.6,
        "rows": 10,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_resamples": 0}, "n_resamples is 0; it must be a positive integer"),
        ({"confidence": 1.0}, "confidence is 1.0; it must be within"),
        ({"names": ["rmse"]}, "do not apply to task 'binary'"),
        ({"threshold": -0.1}, "threshold is -0.1"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        bootstrap_metrics("binary", [0, 1], [0.2, 0.8], **kwargs)  # type: ignore[arg-type]


def test_a_subsampled_bootstrap_rescales_to_the_full_intervals_width() -> None:
    rng = np.random.default_rng(5)
    n = 200_000
    y = rng.integers(0, 2, n)
    p = np.clip(0.25 * y + 0.75 * rng.random(n), 0, 1)
    names = ["roc_auc", "accuracy", "f1"]
    full = bootstrap_metrics("binary", y, p, names=names, n_resamples=200, seed=1)
    fast = bootstrap_metrics("binary", y, p, names=names, n_resamples=200, seed=1, max_rows=20_000)
    for name in names:
        assert fast[name].value == full[name].value
        assert fast[name].rows == n
        assert fast[name].low < fast[name].value < fast[name].high
        # 200 resamples estimate a 95% interval's width within about 10% (the spread of the
        # 2.5% and 97.5% order statistics); allow twice that for the two estimates' difference
        width = full[name].high - full[name].low
        assert fast[name].high - fast[name].low == pytest.approx(width, rel=0.2)
    with pytest.raises(InputError, match="max_rows is 1"):
        bootstrap_metrics("binary", y, p, names=names, max_rows=1)
