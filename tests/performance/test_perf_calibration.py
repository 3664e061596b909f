"""Calibration: ECE under the null and under miscalibration, reliability curves, Brier score."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import brier_score_loss

from tether.errors import InputError
from tether.performance import (
    METRICS,
    brier_score,
    expected_calibration_error,
    reliability_curve,
)

N = 5000


def _calibrated(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(N)
    return (rng.random(N) < p).astype(int), p


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_is_small_when_calibrated_and_large_when_not(strategy: str) -> None:
    _, p = _calibrated(0)
    rng = np.random.default_rng(1)
    # the null: labels drawn from the scores themselves, so any ECE is sampling noise
    null = np.array(
        [
            expected_calibration_error((rng.random(N) < p).astype(int), p, strategy=strategy)
            for _ in range(200)
        ]
    )
    ceiling = null.mean() + 3 * null.std()
    y, p = _calibrated(2)
    assert expected_calibration_error(y, p, strategy=strategy) < ceiling
    # p**3 understates every probability: the gap integrates to about E[p - p^3] = 0.25
    miscalibrated = expected_calibration_error(y, p**3, strategy=strategy)
    assert miscalibrated > 0.2
    assert miscalibrated > 10 * ceiling


def test_multiclass_ece_uses_top_label_confidence() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=N)
    y = (rng.random(N)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    assert expected_calibration_error(y, p) < 0.03
    # overconfident: sharpen the probabilities without changing which class is on top
    sharp = p**4 / (p**4).sum(axis=1, keepdims=True)
    assert expected_calibration_error(y, sharp) > 0.1
    top = p.argmax(axis=1)
    as_binary = expected_calibration_error((top == y).astype(int), p.max(axis=1))
    assert expected_calibration_error(y, p) == pytest.approx(as_binary, rel=1e-12)


def test_ece_with_weights_equals_ece_of_repeated_rows() -> None:
    y, p = _calibrated(4)
    counts = np.random.default_rng(5).multinomial(N, np.full(N, 1 / N), size=2)
    batched = expected_calibration_error(y, p, weights=counts)
    assert isinstance(batched, np.ndarray)
    for value, count in zip(batched, counts, strict=True):
        repeated = expected_calibration_error(np.repeat(y, count), np.repeat(p, count))
        assert value == pytest.approx(repeated, rel=1e-10)
    assert isinstance(expected_calibration_error(y, p), float)


def test_ece_metric_is_the_uniform_ten_bin_ece() -> None:
    y, p = _calibrated(6)
    assert float(METRICS["ece"].compute(y, p)) == expected_calibration_error(y, p)


def test_reliability_curve_rows_sum_to_n_and_track_the_scores() -> None:
    y, p = _calibrated(7)
    curve = reliability_curve(y, p)
    assert curve.columns == ["bin", "lower", "upper", "mean_score", "observed_rate", "rows"]
    assert curve["rows"].sum() == N
    assert curve.height == 10
    assert (curve["mean_score"] >= curve["lower"]).all()
    assert (curve["mean_score"] < curve["upper"]).all()
    # each bin holds ~500 rows: the observed rate is within ~4 binomial sd of the mean score
    sd = np.sqrt(curve["mean_score"] * (1 - curve["mean_score"]) / curve["rows"])
    assert ((curve["observed_rate"] - curve["mean_score"]).abs() < 4 * sd).all()


def test_reliability_curve_omits_empty_bins_and_quantile_bins_are_balanced() -> None:
    y, p = _calibrated(8)
    squeezed = 0.2 + 0.25 * p
    uniform = reliability_curve(y, squeezed)
    assert uniform["bin"].to_list() == [2, 3, 4]
    assert uniform["rows"].sum() == N
    quantile = reliability_curve(y, squeezed, bins=5, strategy="quantile")
    assert quantile.height == 5
    assert quantile["rows"].to_list() == [N // 5] * 5
    assert quantile["lower"][1] == pytest.approx(np.quantile(squeezed, 0.2))


def test_brier_score_matches_sklearn_binary_and_multiclass() -> None:
    y, p = _calibrated(9)
    w = np.random.default_rng(10).random(N)
    assert brier_score(y, p, w) == pytest.approx(brier_score_loss(y, p, sample_weight=w))
    rng = np.random.default_rng(11)
    pm = rng.dirichlet(np.ones(4), size=200)
    ym = rng.integers(0, 4, 200)
    assert brier_score(ym, pm) == pytest.approx(brier_score_loss(ym, pm, labels=[0, 1, 2, 3]))
    assert brier_score(ym, np.eye(4)[ym]) == 0.0


def test_reliability_curve_is_a_polars_frame_with_typed_columns() -> None:
    curve = reliability_curve([0, 1], [0.25, 0.75], bins=4)
    assert isinstance(curve, pl.DataFrame)
    assert curve.rows() == [(1, 0.25, 0.5, 0.25, 0.0, 1), (3, 0.75, 1.0, 0.75, 1.0, 1)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bins": 0}, "bins is 0; it must be a positive integer"),
        ({"strategy": "kmeans"}, "strategy is 'kmeans'; choose from"),
        ({"weights": [1.0]}, "weights has shape \\(1,\\)"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        expected_calibration_error([0, 1], [0.2, 0.8], **kwargs)  # type: ignore[arg-type]


def test_bad_scores_raise_input_error() -> None:
    with pytest.raises(InputError, match=r"scores has 2\.0 at row 1; probabilities must be"):
        reliability_curve([0, 1], [0.2, 2.0])
    with pytest.raises(InputError, match="y_true has 1 rows but scores has 2"):
        brier_score([0], [0.2, 0.3])
