"""The battery every registered metric passes, and agreement with sklearn.metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn import metrics as skm

from tether.errors import InputError
from tether.performance import METRICS, Metric, compute_metrics, confusion_counts, default_metrics
from tether.performance.metrics import group_sums

N = 300
K = 4
PAIRS = [(name, task) for name, metric in METRICS.items() for task in metric.tasks]
IDS = [f"{name}-{task}" for name, task in PAIRS]


def _data(task: str, seed: int = 0, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if task == "binary":
        p = rng.random(n)
        return (rng.random(n) < p).astype(np.int64), p
    if task == "multiclass":
        p = rng.dirichlet(np.ones(K), size=n)
        return (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1), p
    y = rng.normal(size=n)
    return y, y + rng.normal(scale=0.5, size=n)


def _perfect(task: str) -> tuple[np.ndarray, np.ndarray]:
    y, _ = _data(task)
    if task == "multiclass":
        return y, np.eye(K)[y]
    return y, y.astype(np.float64)


def _ece_reference(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """ECE written as its definition: a loop over 10 equal-width bins [lower, upper)."""
    if s.ndim == 2:
        confidence, outcome = s.max(axis=1), (s.argmax(axis=1) == y).astype(float)
    else:
        confidence, outcome = s, y.astype(float)
    edges = np.linspace(0.0, 1.0, 11)
    total = 0.0
    for b in range(10):
        upper = confidence <= 1.0 if b == 9 else confidence < edges[b + 1]
        inside = (confidence >= edges[b]) & upper
        total += abs(np.sum(w[inside] * (confidence[inside] - outcome[inside])))
    return total / w.sum()


def _sklearn(name: str, task: str) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """The same metric from sklearn (or the loop above for ECE) with sample weights."""

    def labels(s: np.ndarray) -> np.ndarray:
        return s.argmax(axis=1) if s.ndim == 2 else (s >= 0.5).astype(int)

    classes = list(range(K)) if task == "multiclass" else [0, 1]
    table: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
        "roc_auc": lambda y, s, w: skm.roc_auc_score(y, s, sample_weight=w),
        "accuracy": lambda y, s, w: skm.accuracy_score(y, labels(s), sample_weight=w),
        "precision": lambda y, s, w: skm.precision_score(
            y, labels(s), sample_weight=w, zero_division=np.nan
        ),
        "recall": lambda y, s, w: skm.recall_score(
            y, labels(s), sample_weight=w, zero_division=np.nan
        ),
        "f1": lambda y, s, w: skm.f1_score(y, labels(s), sample_weight=w, zero_division=np.nan),
        "macro_f1": lambda y, s, w: skm.f1_score(y, labels(s), average="macro", sample_weight=w),
        "log_loss": lambda y, s, w: skm.log_loss(y, s, sample_weight=w, labels=classes),
        "brier": lambda y, s, w: skm.brier_score_loss(y, s, sample_weight=w, labels=classes),
        "ece": _ece_reference,
        "mae": lambda y, s, w: skm.mean_absolute_error(y, s, sample_weight=w),
        "rmse": lambda y, s, w: skm.root_mean_squared_error(y, s, sample_weight=w),
        "r2": lambda y, s, w: skm.r2_score(y, s, sample_weight=w),
    }
    return table[name]


def test_every_registered_metric_has_a_reference() -> None:
    for name, task in PAIRS:
        assert _sklearn(name, task) is not None


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=IDS)
def test_metric_contract(name: str, task: str) -> None:
    metric = METRICS[name]
    assert isinstance(metric, Metric)
    assert metric.name == name
    assert set(metric.tasks) <= {"binary", "multiclass", "regression"}
    assert metric.doc
    assert np.isfinite(metric.best)
    assert name in default_metrics(task)


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=IDS)
def test_perfect_predictions_give_the_best_value(name: str, task: str) -> None:
    metric = METRICS[name]
    y, perfect = _perfect(task)
    assert float(metric.compute(y, perfect)) == pytest.approx(metric.best, abs=1e-9)
    noisy = float(metric.compute(*_data(task)))
    assert (noisy <= metric.best) if metric.higher_is_better else (noisy >= metric.best)
    assert noisy != pytest.approx(metric.best, abs=1e-3)


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=IDS)
def test_weights_of_ones_equal_no_weights_and_scale_does_not_matter(name: str, task: str) -> None:
    metric = METRICS[name]
    y, s = _data(task)
    plain = metric.compute(y, s)
    assert np.isfinite(plain)
    np.testing.assert_allclose(metric.compute(y, s, np.ones(N)), plain, rtol=1e-12)
    w = np.random.default_rng(3).random(N)
    np.testing.assert_allclose(metric.compute(y, s, 7.0 * w), metric.compute(y, s, w), rtol=1e-10)


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=IDS)
def test_batched_weights_equal_separate_calls(name: str, task: str) -> None:
    metric = METRICS[name]
    y, s = _data(task)
    w = np.random.default_rng(4).multinomial(N, np.full(N, 1 / N), size=5).astype(float)
    batched = metric.compute(y, s, w)
    assert batched.shape == (5,)
    assert metric.compute(y, s, w[0]).shape == ()
    separate = [float(metric.compute(y, s, row)) for row in w]
    np.testing.assert_allclose(batched, separate, rtol=1e-12)


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=IDS)
def test_row_order_does_not_matter(name: str, task: str) -> None:
    # sorted rows take the contiguous fast paths, shuffled rows the general ones
    metric = METRICS[name]
    y, s = _data(task)
    w = np.random.default_rng(5).multinomial(N, np.full(N, 1 / N), size=3).astype(float)
    order = np.argsort(s if s.ndim == 1 else y, kind="stable")
    shuffled = np.random.default_rng(6).permutation(N)
    np.testing.assert_allclose(
        metric.compute(y[order], s[order], w[:, order]),
        metric.compute(y[shuffled], s[shuffled], w[:, shuffled]),
        rtol=1e-10,
    )


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=IDS)
def test_weighted_metric_equals_sklearn_sample_weight(name: str, task: str) -> None:
    y, s = _data(task, seed=7)
    w = np.random.default_rng(8).gamma(2.0, size=N)
    expected = _sklearn(name, task)(y, s, w)
    assert float(METRICS[name].compute(y, s, w)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("name", "task"), PAIRS, ids=IDS)
def test_resample_counts_equal_sklearn_on_repeated_rows(name: str, task: str) -> None:
    y, s = _data(task, seed=9)
    counts = np.random.default_rng(10).multinomial(N, np.full(N, 1 / N), size=3)
    values = METRICS[name].compute(y, s, counts.astype(float))
    for value, count in zip(values, counts, strict=True):
        y_rep, s_rep = np.repeat(y, count), np.repeat(s, count, axis=0)
        expected = _sklearn(name, task)(y_rep, s_rep, np.ones(len(y_rep)))
        assert value == pytest.approx(expected, rel=1e-9)


def test_roc_auc_counts_ties_half_and_matches_sklearn() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500) * 0.5 + 0.3 * y, 1)
    w = rng.random(500)
    assert float(METRICS["roc_auc"].compute(y, s, w)) == pytest.approx(
        skm.roc_auc_score(y, s, sample_weight=w), rel=1e-12
    )
    assert float(METRICS["roc_auc"].compute(np.array([0, 1]), np.array([0.5, 0.5]))) == 0.5


def test_undefined_ratios_are_nan() -> None:
    y = np.zeros(10, dtype=int)
    s = np.full(10, 0.2)
    result = compute_metrics("binary", y, s)
    assert np.isnan(result["roc_auc"])
    assert np.isnan(result["precision"])
    assert np.isnan(result["recall"])
    assert np.isnan(result["f1"])
    assert result["accuracy"] == 1.0
    assert np.isnan(compute_metrics("regression", [1.0, 1.0], [1.0, 2.0])["r2"])


def test_compute_metrics_selects_names_and_takes_case_weights() -> None:
    y, s = _data("binary")
    w = np.random.default_rng(12).random(N)
    result = compute_metrics("binary", y, s, names=["f1", "accuracy"], weights=w, threshold=0.3)
    assert list(result) == ["f1", "accuracy"]
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, s >= 0.3, sample_weight=w))
    assert default_metrics("binary") == [
        "roc_auc",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "log_loss",
        "brier",
        "ece",
    ]
    assert default_metrics("multiclass") == ["accuracy", "macro_f1", "log_loss", "brier", "ece"]


def test_confusion_counts_match_sklearn() -> None:
    y, s = _data("binary")
    tn, fp, fn, tp = skm.confusion_matrix(y, s >= 0.4).ravel()
    assert confusion_counts(y, s, threshold=0.4) == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    w = np.random.default_rng(13).random(N)
    weighted = confusion_counts(y, s, weights=w)
    tn, fp, fn, tp = skm.confusion_matrix(y, s >= 0.5, sample_weight=w).ravel()
    np.testing.assert_allclose(
        [weighted["tp"], weighted["fp"], weighted["tn"], weighted["fn"]], [tp, fp, tn, fn]
    )


def test_group_sums_paths_agree() -> None:
    rng = np.random.default_rng(14)
    groups = rng.integers(0, 6, 200)
    weights = rng.random((3, 200))
    values = rng.normal(size=200)
    order = np.argsort(groups, kind="stable")
    expected = np.stack([np.bincount(groups, w * values, minlength=7) for w in weights])
    np.testing.assert_allclose(group_sums(weights, groups, 7, values), expected)
    np.testing.assert_allclose(
        group_sums(weights[:, order], groups[order], 7, values[order]), expected
    )


@pytest.mark.parametrize(
    ("task", "y", "s", "message"),
    [
        ("binary", [0, 1, 1], [0.1, 0.2], "y_true has 3 rows but scores has 2"),
        ("binary", [0, 1], [0.1, np.nan], "scores has nan at row 1; scores must be finite"),
        ("binary", [0, 2], [0.1, 0.2], "y_true holds 2 at row 1; binary labels must be 0 or 1"),
        ("binary", [0, 1], [0.1, 1.2], "scores has 1.2 at row 1; probabilities must be within"),
        ("binary", [], [], "y_true is empty"),
        ("binary", [0, 1], [[0.1], [0.2]], r"scores has shape \(2, 1\); task 'binary' needs"),
        ("binary", ["a", "b"], [0.1, 0.2], "y_true has dtype <U1; binary labels must be numbers"),
        ("multiclass", [0, 3], [[0.5, 0.5, 0.0]] * 2, "y_true holds 3 at row 1; multiclass"),
        ("multiclass", [0, 0.5], [[0.5, 0.5]] * 2, "y_true holds 0.5 at row 1"),
        ("multiclass", [0, 1], [0.5, 0.5], "needs \\(n, k\\) class probabilities"),
        ("regression", [1.0, np.inf], [1.0, 2.0], "y_true has inf at row 1"),
        ("survival", [1.0], [1.0], "task 'survival' is not supported"),
    ],
)
def test_bad_input_raises_input_error(task: str, y: object, s: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compute_metrics(task, y, s)


def test_bad_arguments_raise_input_error() -> None:
    y, s = _data("binary", n=10)
    with pytest.raises(InputError, match="unknown metrics \\['auc'\\]"):
        compute_metrics("binary", y, s, names=["auc"])
    with pytest.raises(InputError, match="metrics \\['mae'\\] do not apply to task 'binary'"):
        compute_metrics("binary", y, s, names=["mae"])
    with pytest.raises(InputError, match="weights has shape \\(3,\\); it must be \\(n,\\)"):
        compute_metrics("binary", y, s, weights=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match=r"weights has -1\.0; weights must be finite and non"):
        compute_metrics("binary", y, s, weights=[-1.0] + [1.0] * 9)
    with pytest.raises(InputError, match=r"threshold is 1\.5; it must be within"):
        compute_metrics("binary", y, s, threshold=1.5)
