"""The ONNX online path: conversion, parity with the native model, the one-row scorer, edge rows."""

from __future__ import annotations

import datetime as dt

import lightgbm
import numpy as np
import polars as pl
import pytest
import xgboost
from credit_data import NUMERIC, pipeline
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tether.bundle.onnx import (
    MISSING_STRING,
    UNSEEN,
    OnnxScorer,
    ParityResult,
    check_parity,
    convert_to_onnx,
    edge_rows,
)
from tether.errors import FormatError, InputError

FEATURES = ["income", "age", "city"]

# float32 inputs and arithmetic keep ~7 significant digits: probabilities agree to ~1e-7
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def edges(frame: pl.DataFrame) -> pl.DataFrame:
    return edge_rows(frame, FEATURES, seed=0)


def native_scores(model, rows: pl.DataFrame, task: str) -> np.ndarray:
    return model.predict(rows) if task == "regression" else model.predict_proba(rows)


def converted(model, frame: pl.DataFrame, features: list[str], task: str) -> OnnxScorer:
    conversion = convert_to_onnx(model, frame, features=features, task=task)
    assert conversion.reason is None
    assert conversion.model is not None
    return OnnxScorer(conversion.model, conversion.inputs, task=task)


@pytest.fixture(scope="module")
def logistic(frame, labels) -> tuple[Pipeline, OnnxScorer]:
    model = pipeline(LogisticRegression()).fit(frame, labels["binary"])
    return model, converted(model, frame, FEATURES, "binary")


def test_logistic_pipeline_converts_with_parity_on_real_and_edge_rows(logistic, frame, edges):
    model, scorer = logistic
    assert scorer.inputs == {"income": "float", "age": "float", "city": "string"}
    for rows in (frame, edges):
        result = check_parity(model.predict_proba(rows), scorer.score(rows), task="binary")
        assert result.ok, result
        assert result.max_abs_diff <= TOLERANCE
        assert result.rows == rows.height


MODELS = {
    "random_forest": (
        lambda: pipeline(RandomForestClassifier(n_estimators=5, random_state=0)),
        "binary",
        FEATURES,
    ),
    "gradient_boosting": (
        lambda: pipeline(GradientBoostingClassifier(n_estimators=5, random_state=0)),
        "multiclass",
        FEATURES,
    ),
    "lgbm_pipeline": (
        lambda: pipeline(lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1)),
        "multiclass",
        FEATURES,
    ),
    "xgb_bare": (lambda: xgboost.XGBClassifier(n_estimators=10, n_jobs=1), "binary", NUMERIC),
    "ridge": (lambda: pipeline(Ridge()), "regression", FEATURES),
    "lgbm_regressor": (
        lambda: lightgbm.LGBMRegressor(n_estimators=10, verbose=-1, n_jobs=1),
        "regression",
        NUMERIC,
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_family_converts_with_parity_on_real_and_edge_rows(name, frame, labels, edges):
    make, task, features = MODELS[name]
    model = make().fit(frame.select(features), labels[task])
    scorer = converted(model, frame.select(features), features, task)
    for rows in (frame.select(features), edges.select(features)):
        fast = scorer.score(rows)
        result = check_parity(native_scores(model, rows, task), fast, task=task)
        assert result.ok, (name, result)
        assert fast.shape == (
            (rows.height,) if task == "regression" else (rows.height, 2 + (task == "multiclass"))
        )


def test_hist_gradient_boosting_does_not_convert_and_says_why(frame, labels):
    model = pipeline(HistGradientBoostingClassifier(max_iter=5)).fit(frame, labels["binary"])
    conversion = convert_to_onnx(model, frame, features=FEATURES, task="binary")
    assert conversion.model is None
    assert conversion.reason.startswith("skl2onnx: ValueError: Unable to create node")
    assert "TreeEnsembleClassifier" in conversion.reason
    assert "\n" not in conversion.reason


class Squarer(BaseEstimator, TransformerMixin):
    """A user's transformer no converter knows."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) ** 2


def test_unknown_transformer_does_not_convert_and_names_it(frame, labels):
    model = Pipeline([("square", Squarer()), ("model", LogisticRegression())])
    model.fit(frame.select("age"), labels["binary"])
    conversion = convert_to_onnx(model, frame, features=["age"], task="binary")
    assert conversion.model is None
    assert conversion.reason.startswith("skl2onnx: ")
    assert "Squarer" in conversion.reason


def test_unsupported_column_type_does_not_convert_and_names_the_feature(frame, labels):
    dated = frame.with_columns(day=pl.lit(dt.date(2024, 1, 1)))
    model = pipeline(LogisticRegression()).fit(dated, labels["binary"])
    conversion = convert_to_onnx(model, dated, features=[*FEATURES, "day"], task="binary")
    assert conversion.model is None
    assert conversion.reason.startswith("tether: feature 'day' has type Date")


def test_bad_task_or_missing_feature_is_an_input_error(logistic, frame):
    model, _ = logistic
    with pytest.raises(InputError, match="is not supported; choose from"):
        convert_to_onnx(model, frame, features=FEATURES, task="ranking")
    with pytest.raises(InputError, match=r"lacks feature columns \['zip'\]"):
        convert_to_onnx(model, frame, features=[*FEATURES, "zip"], task="binary")


@pytest.mark.parametrize("name", ["logistic", "lgbm"])
def test_score_record_equals_score_of_the_one_row_frame_exactly(
    name, logistic, frame, labels, edges
):
    if name == "logistic":
        _, scorer = logistic
    else:
        model = pipeline(lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1))
        scorer = converted(model.fit(frame, labels["multiclass"]), frame, FEATURES, "multiclass")
    rows = pl.concat([frame, edges])
    for index, record in enumerate(rows.iter_rows(named=True)):
        assert np.array_equal(scorer.score_record(record), scorer.score(rows.slice(index, 1)))


def test_null_category_seen_in_training_scores_like_the_native_model(logistic, frame):
    model, scorer = logistic
    nulls = frame.filter(pl.col("city").is_null())
    assert nulls.height > 0
    assert None in model[0].named_transformers_["cat"].categories_[0]
    result = check_parity(model.predict_proba(nulls), scorer.score(nulls), task="binary")
    assert result.ok, result


def test_null_disagrees_where_training_had_the_literal_string_none(frame, labels):
    # skl2onnx writes a None category as "None": without nulls in training but with the string
    # "None", ONNX puts a null into that category while scikit-learn treats it as unknown
    literal = frame.with_columns(pl.col("city").fill_null(MISSING_STRING))
    model = pipeline(LogisticRegression()).fit(literal, labels["binary"])
    scorer = converted(model, literal, FEATURES, "binary")
    assert check_parity(model.predict_proba(literal), scorer.score(literal), task="binary").ok
    nulls = frame.filter(pl.col("city").is_null())
    result = check_parity(model.predict_proba(nulls), scorer.score(nulls), task="binary")
    assert not result.ok
    assert result.max_abs_diff > 0.01


def test_xgboost_after_float32_scaling_disagrees_at_split_ties():
    # XGBoost splits at observed values; a scaled integer computed in float32 by ONNX and in
    # float64 by scikit-learn can land on either side of such a split: parity must catch it
    rng = np.random.default_rng(0)
    rows = pl.DataFrame({"a": rng.normal(size=300), "b": rng.integers(0, 10, 300)})
    y = (rows["a"] + rows["b"] / 5 > 1).cast(pl.Int64).to_numpy()
    scale = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    model = Pipeline(
        [
            ("pre", ColumnTransformer([("num", scale, ["a", "b"])])),
            ("model", xgboost.XGBClassifier(n_estimators=20, n_jobs=1)),
        ]
    ).fit(rows, y)
    scorer = converted(model, rows, ["a", "b"], "binary")
    result = check_parity(model.predict_proba(rows), scorer.score(rows), task="binary")
    assert not result.ok
    assert 0 < len(result.worst_rows) < 30


def test_score_record_refuses_text_for_numbers(logistic):
    _, scorer = logistic
    with pytest.raises(InputError, match="'income': 'rich' is text"):
        scorer.score_record({"income": "rich", "age": 30, "city": "nice"})
    with pytest.raises(InputError, match=r"'income': '1\.5' is text"):
        scorer.score_record({"income": "1.5", "age": 30, "city": "nice"})
    with pytest.raises(InputError, match="'age': \\[30\\] is not a number"):
        scorer.score_record({"income": 1.0, "age": [30], "city": "nice"})


def test_a_feature_the_record_lacks_is_missing_as_in_a_frame(logistic, frame):
    _, scorer = logistic
    row = frame.head(1).with_columns(pl.lit(None, dtype=pl.String).alias("city"))
    record = {"income": row["income"][0], "age": row["age"][0]}
    np.testing.assert_array_equal(scorer.score_record(record), scorer.score(row))


def test_record_values_are_coerced_like_the_frame(logistic):
    _, scorer = logistic
    record = {"income": None, "age": 30, "city": None}
    frame = pl.DataFrame(record, schema={"income": pl.Float64, "age": pl.Int64, "city": pl.String})
    assert np.array_equal(scorer.score_record(record), scorer.score(frame))


def test_scorer_refuses_damaged_or_mismatched_models(logistic, frame):
    model, _ = logistic
    conversion = convert_to_onnx(model, frame, features=FEATURES, task="binary")
    with pytest.raises(FormatError, match="corrupt or unreadable"):
        OnnxScorer(b"not onnx", conversion.inputs, task="binary")
    with pytest.raises(FormatError, match="do not match the recorded inputs"):
        OnnxScorer(conversion.model, {"income": "float", "age": "float"}, task="binary")


# -- check_parity ---------------------------------------------------------------------------


def test_binary_label_flip_on_the_threshold_is_explained():
    native = np.array([0.2, 0.500001, 0.9])
    fast = np.array([0.2, 0.499999, 0.9])
    result = check_parity(native, fast, task="binary")
    assert (result.ok, result.label_mismatches, result.unexplained_label_mismatches) == (
        True,
        1,
        0,
    )
    assert result.worst_rows == [1]


def test_binary_label_flip_far_from_the_threshold_is_unexplained():
    result = check_parity(np.array([0.2, 0.7]), np.array([0.2, 0.3]), task="binary")
    assert not result.ok
    assert (result.label_mismatches, result.unexplained_label_mismatches) == (1, 1)
    assert result.max_abs_diff == pytest.approx(0.4)


def test_binary_accepts_two_column_probabilities_and_a_custom_threshold():
    native = np.array([[0.75, 0.25], [0.3, 0.7]])
    fast = np.array([[0.7, 0.3], [0.3, 0.7]])
    result = check_parity(native, fast, task="binary", threshold=0.28)
    assert (result.label_mismatches, result.unexplained_label_mismatches) == (1, 1)


def test_multiclass_flip_needs_the_top_two_classes_within_twice_the_tolerance():
    native = np.array([[0.5, 0.5 - 1.5e-5, 1.5e-5], [0.5, 0.49, 0.01]])
    fast = np.array([[0.5 - 1e-5, 0.5 - 0.5e-5, 1.5e-5], [0.49, 0.5, 0.01]])
    result = check_parity(native, fast, task="multiclass")
    assert result.label_mismatches == 2
    assert result.unexplained_label_mismatches == 1
    assert result.worst_rows == [1, 0]


def test_regression_tolerance_scales_with_the_largest_prediction():
    native = np.array([1e5, 2e5])
    result = check_parity(native, native + 1.0, task="regression")
    assert result.ok
    assert result.tolerance == pytest.approx(2.0)
    assert not check_parity(np.array([0.1, 0.2]), np.array([0.1, 0.21]), task="regression").ok


def test_nan_on_one_side_is_an_infinite_difference_and_on_both_none():
    native = np.array([np.nan, 0.3, np.nan])
    result = check_parity(native, np.array([np.nan, 0.3, 0.2]), task="regression")
    assert not result.ok
    assert result.max_abs_diff == np.inf
    assert result.to_dict()["max_abs_diff"] is None
    assert result.worst_rows == [2]


def test_parity_result_to_dict_holds_every_field():
    result = check_parity(np.array([0.1]), np.array([0.1]), task="binary")
    assert isinstance(result, ParityResult)
    assert result.to_dict() == {
        "ok": True,
        "rows": 1,
        "max_abs_diff": 0.0,
        "label_mismatches": 0,
        "unexplained_label_mismatches": 0,
        "tolerance": 1e-5,
        "worst_rows": [],
    }


def test_check_parity_refuses_mismatched_shapes_and_bad_tolerance():
    with pytest.raises(InputError, match="differ"):
        check_parity(np.zeros(3), np.zeros(4), task="regression")
    with pytest.raises(InputError, match="tolerance"):
        check_parity(np.zeros(3), np.zeros(3), task="regression", tolerance=-1.0)


# -- edge_rows ------------------------------------------------------------------------------


def test_edge_rows_keep_dtypes_and_hit_every_edge_value(frame, edges):
    assert edges.schema == frame.schema
    assert edges.height == 1000
    cities = set(edges["city"].to_list())
    assert {None, *UNSEEN} <= cities
    income = edges["income"]
    low, high = frame["income"].min(), frame["income"].max()
    span = high - low
    assert income.null_count() > 0
    assert income.is_nan().sum() > 0
    assert {low, high, high + 10 * span, low - 10 * span, 0.0, -1.0} <= set(income.to_list())
    age_low, age_high = frame["age"].min(), frame["age"].max()
    expected_ages = {age_low, age_high, age_high + 10 * (age_high - age_low), 0, -1}
    assert expected_ages <= set(edges["age"].to_list())


def test_edge_rows_are_deterministic_and_edit_only_features(frame):
    first = edge_rows(frame, ["city"], seed=3, rows=200)
    assert first.equals(edge_rows(frame, ["city"], seed=3, rows=200))
    assert not first.equals(edge_rows(frame, ["city"], seed=4, rows=200))
    # income is carried as drawn: every value comes from the sample
    assert set(first["income"].drop_nulls().to_list()) <= set(frame["income"].to_list())


def test_edge_rows_clip_to_narrow_dtypes_and_cover_other_types():
    sample = pl.DataFrame(
        {
            "small": pl.Series([1, 5, 100], dtype=pl.Int8),
            "count": pl.Series([2, 3, 4], dtype=pl.UInt16),
            "flag": [True, False, True],
            "kind": pl.Series(["a", "b", "a"], dtype=pl.Categorical),
            "level": pl.Series(["lo", "hi", "lo"], dtype=pl.Enum(["lo", "hi"])),
            "day": [dt.date(2024, 1, i) for i in (1, 2, 3)],
        }
    )
    edges = edge_rows(sample, sample.columns, rows=200)
    assert edges.schema == sample.schema
    assert edges["small"].max() == 127
    assert edges["count"].min() == 0
    assert set(edges["flag"].to_list()) == {None, True, False}
    assert set(UNSEEN) <= set(edges["kind"].drop_nulls().to_list())
    assert set(edges["level"].drop_nulls().to_list()) <= {"lo", "hi"}
    assert edges["day"].null_count() > 0


def test_edge_rows_refuse_empty_sample_unknown_feature_and_no_rows(frame):
    with pytest.raises(InputError, match="empty"):
        edge_rows(frame.clear(), FEATURES)
    with pytest.raises(InputError, match="zip"):
        edge_rows(frame, ["zip"])
    with pytest.raises(InputError, match="rows must be >= 1"):
        edge_rows(frame, FEATURES, rows=0)


def test_equal_infinities_agree_and_opposite_ones_do_not():
    native = np.array([np.inf, -np.inf, 1.0])
    assert check_parity(native, native.copy(), task="regression").max_abs_diff == 0.0
    flipped = check_parity(native, np.array([-np.inf, -np.inf, 1.0]), task="regression")
    assert flipped.max_abs_diff == np.inf
    assert flipped.worst_rows == [0]


def test_pipeline_of_string_features_only_converts(frame, labels):
    model = Pipeline(
        [
            ("pre", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])),
            ("model", LogisticRegression()),
        ]
    ).fit(frame, labels["binary"])
    scorer = converted(model, frame, ["city"], "binary")
    assert scorer.inputs == {"city": "string"}
    result = check_parity(model.predict_proba(frame), scorer.score(frame), task="binary")
    assert result.ok, result
    assert np.array_equal(scorer.score_record({"city": None}), scorer.score(frame.clear(1)))
