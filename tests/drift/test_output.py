"""Model-output drift: predictions shaped for the drift engine, and confidence drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from tether.drift.output import confidence_drift, prediction_drift
from tether.errors import InputError

# ---- prediction_drift --------------------------------------------------------------------------


def test_prediction_drift_scores_and_classes() -> None:
    scores = prediction_drift(np.array([0.1, 0.9]), [0.2, 0.4, 0.5])
    assert scores.reference.schema == pl.Schema({"prediction": pl.Float64})
    assert scores.current.get_column("prediction").to_list() == [0.2, 0.4, 0.5]
    classes = prediction_drift(np.array([0, 2, 1]), pl.Series([True, False]).cast(pl.Int8))
    assert classes.reference.get_column("prediction").to_list() == ["0", "2", "1"]
    assert classes.current.dtypes == [pl.String]
    labels = prediction_drift(["late", "on time"], ["late"], name="label")
    assert labels.current.columns == ["label"]


def test_prediction_drift_kind_overrides_auto() -> None:
    as_class = prediction_drift([0.0, 1.0], [1.0, 1.0], kind="class")
    assert as_class.reference.get_column("prediction").to_list() == ["0.0", "1.0"]
    as_score = prediction_drift([0, 1, 1], [1, 1], kind="score")
    assert as_score.reference.dtypes == [pl.Float64]
    with pytest.raises(InputError, match="not numeric"):
        prediction_drift(["a"], ["b"], kind="score")
    with pytest.raises(InputError, match="kind must be"):
        prediction_drift([1.0], [1.0], kind="both")  # type: ignore[arg-type]


def test_prediction_drift_matrices_and_tables() -> None:
    proba = np.array([[0.2, 0.8], [0.6, 0.4]])
    frames = prediction_drift(proba, proba[:1], name="p")
    assert frames.reference.columns == ["p_0", "p_1"]
    assert frames.current.height == 1
    table = pd.DataFrame({"score": [0.1, 0.3]})
    from_pandas = prediction_drift(table, pl.DataFrame({"score": [0.5]}))
    assert from_pandas.reference.get_column("score").to_list() == [0.1, 0.3]


def test_prediction_drift_frames_show_a_planted_score_shift() -> None:
    rng = np.random.default_rng(0)
    reference, current = prediction_drift(rng.beta(2, 5, 5_000), rng.beta(3, 4, 5_000))
    statistic = stats.ks_2samp(reference["prediction"], current["prediction"])
    assert statistic.pvalue < 1e-6


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        ([], [0.1], "reference_scores is empty"),
        ([0.1], np.array([]), "current_scores is empty"),
        (pl.DataFrame({"a": [0.1]}), pl.DataFrame({"b": [0.1]}), "same model output"),
        (np.zeros((2, 2, 2)), [0.1], "1-D or 2-D"),
        (object(), [0.1], "cannot read data of type object"),
    ],
)
def test_prediction_drift_clear_errors(reference: object, current: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        prediction_drift(reference, current)


# ---- confidence_drift --------------------------------------------------------------------------


def dirichlet(concentration: list[float], n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(concentration, size=n)


def test_confidence_quiet_on_same_distribution() -> None:
    result = confidence_drift(dirichlet([6, 1, 1], 3_000, 1), dirichlet([6, 1, 1], 3_000, 2))
    assert not result.drifted
    assert not result.metrics.get_column("drifted").any()
    for low, high in result.metrics.select("ci_low", "ci_high").rows():
        assert low < 0 < high


def test_confidence_finds_a_less_sure_model() -> None:
    result = confidence_drift(dirichlet([6, 1, 1], 3_000, 1), dirichlet([2, 1, 1], 3_000, 2))
    assert result.drifted
    rows = {row["metric"]: row for row in result.metrics.to_dicts()}
    assert rows["max_probability"]["difference"] < 0
    assert rows["max_probability"]["ci_high"] < 0
    assert rows["entropy"]["difference"] > 0
    assert rows["entropy"]["effect_size"] > 0.5
    assert all(0 <= row["reference"] <= 1 for row in rows.values())
    assert "max_probability" in result.reason
    assert result.to_dict()["n_current"] == 3_000
    assert result.to_frame() is result.metrics


def test_confidence_false_alarm_rate_respects_alpha() -> None:
    trials, alpha = 40, 0.05
    alarms = 0
    for seed in range(trials):
        result = confidence_drift(
            dirichlet([3, 1], 200, seed),
            dirichlet([3, 1], 150, 1_000 + seed),
            alpha=alpha,
            min_effect=0.0,
        )
        # Either measure may alarm; count the max-probability test alone to keep one test.
        alarms += bool(result.metrics.filter(metric="max_probability")["drifted"][0])
    assert alarms <= int(stats.binom.ppf(0.999, trials, alpha))


def test_confidence_effect_floor_keeps_tiny_differences_quiet_at_scale() -> None:
    rng = np.random.default_rng(0)
    positive = rng.beta(5, 2, 400_000)
    result = confidence_drift(positive[:200_000], np.clip(positive[200_000:] + 0.01, 0, 1))
    row = result.metrics.filter(metric="max_probability").to_dicts()[0]
    assert row["p_value"] < 0.01  # significant at this size...
    assert abs(row["effect_size"]) < 0.1  # ...but too small to matter
    assert not result.drifted


def test_confidence_accepts_binary_columns_and_tables() -> None:
    positive = np.random.default_rng(0).uniform(size=500)
    as_vector = confidence_drift(positive[:250], positive[250:])
    as_table = confidence_drift(
        pl.DataFrame({"no": 1 - positive[:250], "yes": positive[:250]}),
        pd.DataFrame({"no": 1 - positive[250:], "yes": positive[250:]}),
    )
    assert as_vector.metrics.equals(as_table.metrics)
    single = confidence_drift(positive[:250, None], positive[250:, None])
    assert single.metrics.equals(as_vector.metrics)


def test_confidence_constant_predictions_on_both_sides() -> None:
    one_hot = np.tile([1.0, 0.0, 0.0], (50, 1))
    result = confidence_drift(one_hot, one_hot[:10])
    assert not result.drifted
    assert result.metrics.get_column("p_value").to_list() == [1.0, 1.0]
    shifted = confidence_drift(one_hot, np.tile([0.5, 0.5, 0.0], (10, 1)))
    assert shifted.drifted


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        (np.array([[0.5, 0.5]]), np.full((3, 2), 0.5), "reference_proba has 1 rows"),
        (np.full((3, 2), 0.5), np.full((3, 3), 1 / 3), "2 classes but current_proba has 3"),
        (np.full((3, 2), 0.5), np.array([[0.5, 0.5], [0.9, 0.3]]), "row 1 sums to 1.2"),
        (np.full((3, 2), 0.5), np.array([[0.5, np.nan], [0.5, 0.5]]), "row 0, class 1 is nan"),
        (np.full((3, 2), 0.5), np.array([[1.5, -0.5], [0.5, 0.5]]), "must be in \\[0, 1\\]"),
        (pl.DataFrame({"a": ["x", "y"]}), np.full((3, 2), 0.5), "columns \\['a'\\] are not"),
        (np.full((3, 2), 0.5), np.empty((0, 2)), "current_proba has 0 rows"),
    ],
)
def test_confidence_clear_errors(reference: object, current: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        confidence_drift(reference, current)


def test_confidence_rejects_bad_parameters() -> None:
    proba = np.full((3, 2), 0.5)
    with pytest.raises(InputError, match="alpha"):
        confidence_drift(proba, proba, alpha=0.7)
    with pytest.raises(InputError, match="min_effect"):
        confidence_drift(proba, proba, min_effect=-1)
