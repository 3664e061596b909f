"""CBPE: estimates against known truth, calibration, concept drift, bad input, serialization."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from tether.errors import FormatError, InputError, UnsupportedVersionError
from tether.performance import compute_metrics
from tether.performance.estimation import CBPE, divergence
from tether.performance.estimation.cbpe import _roc_auc

BINARY = ["roc_auc", "accuracy", "precision", "recall", "f1", "brier", "log_loss"]
MULTICLASS = ["accuracy", "macro_f1", "brier", "log_loss"]
COST = {"tp": -2.0, "fp": 1.0, "fn": 5.0}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _calibrated(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, ...]:
    """Scores that are the true P(y = 1 | x); ``shift`` moves x (covariate shift only)."""
    x = rng.normal(shift, 1.0, n)
    p = _sigmoid(1.5 * x - 0.5)
    return (rng.random(n) < p).astype(np.int64), p


def _coverage(estimator: CBPE, windows: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, dict]:
    """Per metric: share of windows whose realized value lies in the band, and the spread of
    the standardized differences (realized - estimated) / std."""
    rows = divergence(
        [estimator.estimate(scores) for _, scores in windows],
        [estimator.realized(y, scores) for y, scores in windows],
    )
    out = {}
    for name in estimator.metric_names_:
        part = rows.filter(rows["metric"] == name)
        out[name] = {
            "inside": 1.0 - part["diverged"].mean(),
            "z_sd": part["z"].std(),
            "z_mean": part["z"].mean(),
        }
    return out


def test_calibrated_scores_under_covariate_shift_stay_in_band() -> None:
    rng = np.random.default_rng(1)
    cbpe = CBPE(metrics=BINARY, cost=COST).fit(*_calibrated(rng, 20_000))
    assert not cbpe.calibration_["applied"]  # held-out isotonic cannot beat the true P
    shifts = np.linspace(-1.0, 1.0, 40)
    windows = [_calibrated(rng, 3_000, shift) for shift in shifts]
    for name, found in _coverage(cbpe, windows).items():
        # A 3-sd band should hold ~99.7% of 40 windows; 38/40 allows for the estimated
        # thresholds' own noise (P(3+ misses) < 1e-3 at 99.7%).
        assert found["inside"] >= 0.95, (name, found)
        # The sd of 40 standardized differences has a standard error of ~1/sqrt(78) = 0.11;
        # 0.65..1.35 is 3 of those around 1, so the band is neither too narrow nor too wide.
        assert 0.65 <= found["z_sd"] <= 1.35, (name, found)
        assert abs(found["z_mean"]) < 3 * 1.35 / np.sqrt(40), (name, found)
    totals = []
    for y, scores in windows:
        cost = cbpe.estimate(scores).cost
        assert cost is not None
        counts = compute_confusion(y, scores)
        realized = sum(COST.get(k, 0.0) * counts[k] for k in counts)
        totals.append((realized - cost["total"]) / cost["std"])
    assert np.mean(np.abs(totals) <= 3.0) >= 0.95
    assert 0.65 <= np.std(totals, ddof=1) <= 1.35


def compute_confusion(y: np.ndarray, scores: np.ndarray) -> dict[str, int]:
    predicted = scores >= 0.5
    return {
        "tp": int((predicted & (y == 1)).sum()),
        "fp": int((predicted & (y == 0)).sum()),
        "tn": int((~predicted & (y == 0)).sum()),
        "fn": int((~predicted & (y == 1)).sum()),
    }


def test_expected_confusion_counts_add_up_and_track_realized() -> None:
    rng = np.random.default_rng(2)
    cbpe = CBPE().fit(*_calibrated(rng, 10_000))
    y, scores = _calibrated(rng, 50_000, 0.5)
    confusion = cbpe.estimate(scores).confusion
    assert confusion is not None
    assert sum(confusion.values()) == pytest.approx(50_000)
    realized = compute_confusion(y, scores)
    for key, value in realized.items():
        # each count is a sum of up to 50k Bernoulli labels: sd <= sqrt(50k / 4) = 112
        assert abs(confusion[key] - value) < 4 * 112, key


def test_miscalibrated_scores_switch_calibration_on_and_estimates_still_track() -> None:
    rng = np.random.default_rng(3)

    def overconfident(n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        y, p = _calibrated(rng, n, shift)
        logit = np.log(p / (1.0 - p))
        return y, _sigmoid(2.5 * logit + 0.7)  # too sharp and biased upward

    reference = overconfident(20_000)
    cbpe = CBPE(metrics=BINARY).fit(*reference)
    raw = CBPE(metrics=BINARY, calibrate=False).fit(*reference)
    assert cbpe.calibration_["applied"]
    assert cbpe.calibration_["calibrated_brier"] < cbpe.calibration_["raw_brier"]
    windows = [overconfident(3_000, shift) for shift in np.linspace(-0.8, 0.8, 30)]
    calibrated, uncalibrated = _coverage(cbpe, windows), _coverage(raw, windows)
    for name in ("accuracy", "precision", "recall", "f1", "brier"):
        # The isotonic map fitted on 20k rows adds a small bias common to all windows; the
        # band still holds at least 90% (27 of 30) where the raw scores miss almost all.
        assert calibrated[name]["inside"] >= 0.9, (name, calibrated[name])
        assert uncalibrated[name]["inside"] <= 0.2, (name, uncalibrated[name])
    # ROC AUC depends on the ranking only, which calibration keeps
    assert calibrated["roc_auc"]["inside"] >= 0.9


def test_concept_drift_puts_realized_outside_the_band() -> None:
    rng = np.random.default_rng(4)
    cbpe = CBPE(metrics=["roc_auc", "accuracy", "f1"]).fit(*_calibrated(rng, 20_000))
    y, scores = _calibrated(rng, 5_000)
    flipped = 1 - y  # P(y | x) reversed: the scores still look the same
    drifted = y.copy()
    # a milder drift: a quarter of the positives turn negative (P(y=1|x) drops by 25%)
    drifted[(y == 1) & (rng.random(len(y)) < 0.25)] = 0
    estimate = cbpe.estimate(scores)
    rows = divergence(
        [estimate] * 3,
        [cbpe.realized(y, scores), cbpe.realized(flipped, scores), cbpe.realized(drifted, scores)],
    )
    diverged = {
        (window, metric): flag
        for window, metric, flag in rows.select("window", "metric", "diverged").rows()
    }
    assert not any(diverged[(0, m)] for m in ("roc_auc", "accuracy", "f1"))
    assert all(diverged[(1, m)] for m in ("roc_auc", "accuracy", "f1"))
    assert diverged[(2, "accuracy")]
    assert diverged[(2, "f1")]
    z_flipped = rows.filter((rows["window"] == 1) & (rows["metric"] == "roc_auc"))["z"][0]
    assert z_flipped < -20


def test_multiclass_one_vs_rest_estimates_stay_in_band() -> None:
    rng = np.random.default_rng(5)
    centers = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])

    def window(n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(0.0, 1.0, (n, 2)) + shift
        logits = -0.8 * ((x[:, None, :] - centers[None]) ** 2).sum(axis=2)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        return y, p

    cbpe = CBPE(metrics=MULTICLASS, cost={"error": 3.0}).fit(*window(20_000))
    windows = [window(3_000, shift) for shift in np.linspace(-0.7, 0.7, 30)]
    for name, found in _coverage(cbpe, windows).items():
        assert found["inside"] >= 0.9, (name, found)
        assert 0.6 <= found["z_sd"] <= 1.4, (name, found)
    result = cbpe.estimate(windows[0][1])
    assert result.confusion is None
    assert result.cost is not None
    assert result.cost["total"] == pytest.approx(3.0 * result.cost["outcomes"]["errors"])


def test_expected_roc_auc_is_the_ratio_of_exact_expectations() -> None:
    # brute force over every labeling of 8 rows (with a tie): E[pairs ranked right] / E[pairs]
    s = np.array([0.1, 0.2, 0.2, 0.4, 0.5, 0.7, 0.8, 0.9])
    p = np.array([0.05, 0.3, 0.6, 0.2, 0.5, 0.7, 0.4, 0.95])
    wins = pairs = 0.0
    for labels in itertools.product((0, 1), repeat=8):
        y = np.array(labels)
        weight = np.prod(np.where(y == 1, p, 1.0 - p))
        pos, neg = s[y == 1], s[y == 0]
        wins += weight * (
            (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
        )
        pairs += weight * len(pos) * len(neg)
    value, std = _roc_auc(p, s)
    assert value == pytest.approx(wins / pairs, abs=1e-12)
    assert 0.0 < std < 0.5


def test_alert_thresholds_scale_with_window_size_and_floor_at_min_effect() -> None:
    rng = np.random.default_rng(6)
    cbpe = CBPE(metrics=["accuracy"], chunk_size=1_000, min_effect=0.01).fit(
        *_calibrated(rng, 10_000)
    )
    mean = cbpe.reference_["accuracy"]["mean"]
    low_small, high_small = cbpe.thresholds("accuracy", 500)
    low_large, high_large = cbpe.thresholds("accuracy", 1_000_000)
    assert low_small < low_large < mean < high_large < high_small
    assert high_large - mean == pytest.approx(0.01)  # the floor, not 3 sd of a 1M window
    # a reference-like window raises no alert; one moved to the uncertain middle does
    assert not cbpe.estimate(_calibrated(rng, 5_000)[1]).metrics["accuracy"].alert
    hard = _sigmoid(rng.normal(0.0, 0.3, 5_000))
    assert cbpe.estimate(hard).metrics["accuracy"].alert


def test_a_million_scores_are_estimated_with_every_metric() -> None:
    rng = np.random.default_rng(7)
    cbpe = CBPE(metrics=BINARY).fit(*_calibrated(rng, 10_000))
    y, scores = _calibrated(rng, 1_000_000, 0.3)
    result = cbpe.estimate(scores)
    realized = compute_metrics("binary", y, scores, names=BINARY)
    for name in BINARY:
        found = result.metrics[name]
        assert found.low <= realized[name] <= found.high, name


@pytest.mark.parametrize(
    ("y", "scores", "message"),
    [
        ([0, 1, 1], [0.2, 0.7], "y_true has 3 rows but scores has 2"),
        ([0, 1], [0.2, float("nan")], "scores has nan at row 1; scores must be finite"),
        ([0, 1], [0.2, 1.3], "scores has 1.3 at row 1; probabilities must be within"),
        ([0, 2], [0.2, 0.7], "y_true holds 2 at row 1; binary labels must be 0 or 1"),
        ([1] * 20, [0.6] * 20, "y_true holds only class 1 in the reference"),
        ([], [], "y_true is empty"),
    ],
)
def test_bad_reference_raises_input_error_naming_the_problem(
    y: list[int], scores: list[float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        CBPE().fit(y, scores)


def test_bad_window_and_parameters_raise_input_error() -> None:
    rng = np.random.default_rng(8)
    y, scores = _calibrated(rng, 2_000)
    with pytest.raises(InputError, match="not fitted"):
        CBPE().estimate(scores)
    cbpe = CBPE().fit(y, scores)
    with pytest.raises(InputError, match="scores is empty"):
        cbpe.estimate([])
    with pytest.raises(InputError, match="scores has nan at row 2"):
        cbpe.estimate([0.1, 0.5, float("nan")])
    with pytest.raises(
        InputError, match=r"scores has -0\.1 at row 0; probabilities must be within"
    ):
        cbpe.estimate([-0.1, 0.5])
    with pytest.raises(InputError, match=r"scores has shape \(2, 2\); this binary model needs"):
        cbpe.estimate([[0.1, 0.9], [0.5, 0.5]])
    with pytest.raises(InputError, match=r"metrics \['macro_f1'\] do not apply to task 'binary'"):
        CBPE(metrics=["macro_f1"]).fit(y, scores)
    with pytest.raises(InputError, match=r"CBPE cannot estimate \['ece'\]"):
        CBPE(metrics=["ece"]).fit(y, scores)
    with pytest.raises(InputError, match="calibrate is 'sometimes'"):
        CBPE(calibrate="sometimes").fit(y, scores)
    with pytest.raises(InputError, match=r"threshold is 1\.5"):
        CBPE(threshold=1.5).fit(y, scores)
    with pytest.raises(InputError, match=r"cost keys \['over'\] do not apply to binary"):
        CBPE(cost={"over": 1.0}).fit(y, scores)
    with pytest.raises(InputError, match="fewer than 2 chunks of chunk_size=1500"):
        CBPE(chunk_size=1_500).fit(y, scores)


@pytest.mark.parametrize("calibrate", [True, False])
def test_serialization_round_trip_gives_identical_estimates(calibrate: bool) -> None:
    rng = np.random.default_rng(9)
    cbpe = CBPE(metrics=BINARY, cost=COST, calibrate=calibrate).fit(*_calibrated(rng, 5_000))
    text = json.dumps(cbpe.to_dict(), allow_nan=False)
    loaded = CBPE.from_dict(json.loads(text))
    _, scores = _calibrated(rng, 2_000, 0.4)
    assert loaded.estimate(scores).to_dict() == cbpe.estimate(scores).to_dict()
    assert (loaded.calibrator_ is None) is (not calibrate)


def test_corrupt_or_newer_state_is_refused() -> None:
    rng = np.random.default_rng(10)
    state = CBPE().fit(*_calibrated(rng, 2_000)).to_dict()
    with pytest.raises(FormatError, match="format must be 'tether-cbpe'"):
        CBPE.from_dict({**state, "format": "other"})
    with pytest.raises(UnsupportedVersionError, match="format_version 99"):
        CBPE.from_dict({**state, "format_version": 99})
    broken = json.loads(json.dumps(state))
    del broken["state"]["calibration"]
    with pytest.raises(FormatError, match="missing or malformed"):
        CBPE.from_dict(broken)
