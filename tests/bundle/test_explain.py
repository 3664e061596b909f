"""Per-row contributions: exactness, additivity, ranking, fallbacks and bad input."""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import tether.bundle.explain as explain_module
from tether.bundle.explain import Explanation, explain
from tether.errors import InputError

FEATURES = ["a", "b", "c", "d"]
# XGBoost accumulates in float32: each of its terms carries a relative rounding of this order.
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def _data(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    """``a`` drives the label, ``c`` (a category) a little, ``b`` and ``d`` not at all."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.choice(["x", "y", "z"], size=n),
            "d": rng.normal(size=n),
        }
    )
    score = 3.0 * frame["a"].to_numpy() + 0.5 * (frame["c"] == "x").to_numpy()
    return frame, (rng.random(n) < expit(score)).astype(np.int64)


def _pipeline(final: object, remainder: str = "drop") -> Pipeline:
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["a", "b"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"]),
        ],
        remainder=remainder,
    )
    return Pipeline([("pre", columns), ("model", final)])


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, np.ndarray]:
    return _data(400, seed=0)


def _gap(e: Explanation) -> np.ndarray:
    return np.abs(e.base_value + e.contributions.to_numpy().sum(axis=1) - e.output)


def _top_share(e: Explanation, feature: str) -> float:
    return float((e.top(1)["feature"] == feature).mean())


def test_linear_matches_hand_computed_values_and_adds_up(data):
    train, y = data
    model = _pipeline(LogisticRegression()).fit(train, y)
    background = train.head(150)
    unseen = pl.DataFrame({"a": [0.3], "b": [1.0], "c": ["new"], "d": [0.0]})
    rows = pl.concat([train.tail(20), unseen])
    e = explain(model, rows, features=FEATURES, task="binary", background=background)

    scaler, encoder, final = (
        model[0].named_transformers_["num"],
        model[0].named_transformers_["cat"],
        model[-1],
    )
    weights, intercept = final.coef_[0], final.intercept_[0]

    def transformed(frame: pl.DataFrame) -> np.ndarray:
        numeric = (frame.select("a", "b").to_numpy() - scaler.mean_) / scaler.scale_
        onehot = frame["c"].to_numpy()[:, None] == encoder.categories_[0][None, :]
        return np.hstack([numeric, onehot])

    centred = transformed(rows) - transformed(background).mean(axis=0)
    expected = {
        "a": weights[0] * centred[:, 0],
        "b": weights[1] * centred[:, 1],
        "c": centred[:, 2:] @ weights[2:],
        "d": np.zeros(rows.height),
    }
    assert (e.method, e.units) == ("linear", "log_odds")
    for name, values in expected.items():
        np.testing.assert_allclose(e.contributions[name].to_numpy(), values, rtol=0, atol=1e-12)
    assert e.base_value == pytest.approx(
        intercept + transformed(background).mean(axis=0) @ weights, abs=1e-12
    )
    assert _gap(e).max() < 1e-9
    np.testing.assert_allclose(e.output, logit(model.predict_proba(rows)[:, 1]), atol=1e-9)


def test_linear_feature_with_zero_coefficient_contributes_zero(data):
    train, y = data
    model = _pipeline(LogisticRegression()).fit(train, y)
    model[-1].coef_[0, 1] = 0.0  # the scaled column of b
    e = explain(model, train.head(30), features=FEATURES, task="binary", background=train)
    assert np.all(e.contributions["b"].to_numpy() == 0.0)
    assert np.all(e.contributions["a"].to_numpy() != 0.0)
    assert _gap(e).max() < 1e-9


def test_mapping_passthrough_gets_its_column_and_a_mixed_output_is_split_equally(data):
    train, y = data
    rng = np.random.default_rng(1)
    train = train.with_columns(pl.Series("e", rng.normal(size=train.height)))
    columns = ColumnTransformer(
        [("mix", PCA(n_components=1), ["a", "b"]), ("cat", OneHotEncoder(), ["c"])],
        remainder="passthrough",
    )
    model = Pipeline([("pre", columns), ("model", LogisticRegression())]).fit(train, y)
    features = [*FEATURES, "e"]
    e = explain(
        model,
        train.head(25),
        features=features,
        task="binary",
        background=train,
        max_background=train.height,
    )
    weights, mixed = model[-1].coef_[0], model[0].transform(train.head(25))[:, 0]
    background_mixed = model[0].transform(train)[:, 0].mean()
    half = weights[0] * (mixed - background_mixed) / 2
    np.testing.assert_allclose(e.contributions["a"].to_numpy(), half, atol=1e-12)
    np.testing.assert_allclose(e.contributions["b"].to_numpy(), half, atol=1e-12)
    # Passthrough outputs follow the transformers in input order: d, then e.
    passthrough = weights[-1] * (train["e"].head(25).to_numpy() - train["e"].mean())
    np.testing.assert_allclose(e.contributions["e"].to_numpy(), passthrough, atol=1e-12)
    assert _gap(e).max() < 1e-9


def test_random_forest_through_shap_adds_up_and_ranks_the_driver_first(data):
    pytest.importorskip("shap")
    train, y = data
    forest = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0, n_jobs=1)
    model = _pipeline(forest).fit(train, y)
    rows = train.tail(100)
    e = explain(model, rows, features=FEATURES, task="binary", background=train)
    assert (e.method, e.units) == ("tree_shap", "probability")
    assert _gap(e).max() < 1e-6
    np.testing.assert_allclose(e.output, model.predict_proba(rows)[:, 1], atol=1e-12)
    mean_abs = e.contributions.select(pl.all().abs().mean()).row(0, named=True)
    assert max(mean_abs, key=mean_abs.__getitem__) == "a"
    assert _top_share(e, "a") > 0.8
    assert np.all(e.contributions["d"].to_numpy() == 0.0)  # dropped by the ColumnTransformer


def test_lightgbm_pipeline_adds_up_in_log_odds(data):
    lightgbm = pytest.importorskip("lightgbm")
    train, y = data
    booster = lightgbm.LGBMClassifier(n_estimators=40, num_leaves=8, verbose=-1, random_state=0)
    model = _pipeline(booster).fit(train, y)
    rows = train.tail(100)
    e = explain(model, rows, features=FEATURES, task="binary", background=train)
    assert (e.method, e.units) == ("lightgbm", "log_odds")
    assert _gap(e).max() < 1e-6
    np.testing.assert_allclose(e.output, logit(model.predict_proba(rows)[:, 1]), atol=1e-9)
    assert _top_share(e, "a") > 0.8


def test_xgboost_bare_estimator_adds_up_in_log_odds_to_float32_precision(data):
    xgboost = pytest.importorskip("xgboost")
    train, y = data
    numeric = train.select("a", "b", "d")
    model = xgboost.XGBClassifier(n_estimators=40, max_depth=3, random_state=0).fit(numeric, y)
    rows = numeric.tail(100)
    e = explain(model, rows, features=["a", "b", "d"], task="binary", background=numeric)
    assert (e.method, e.units) == ("xgboost", "log_odds")
    terms = np.abs(e.contributions.to_numpy()).sum(axis=1) + abs(e.base_value) + np.abs(e.output)
    # Each term is a float32 sum over the 40 trees, each addition rounding by at most eps/2 of the
    # running total (measured: under 3 eps times the terms).
    assert np.all(_gap(e) <= 40 / 2 * FLOAT32_EPS * terms)
    # Compared as probabilities: the logit of a float32 probability near 1 loses digits.
    np.testing.assert_allclose(expit(e.output), model.predict_proba(rows)[:, 1], atol=FLOAT32_EPS)
    assert _top_share(e, "a") > 0.8


class _BoosterAdapter:
    """A loaded-bundle adapter: a native booster behind ``predict_proba`` on raw frames."""

    def __init__(self, booster: object, to_input: object) -> None:
        self.booster, self.to_input, self.classes_ = booster, to_input, np.array([0, 1])

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        p = self.booster.predict(self.to_input(frame.to_numpy()))
        return np.column_stack([1 - p, p])


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_adapter_with_a_native_booster_is_explained_natively(data, library):
    package = pytest.importorskip(library)
    train, y = data
    numeric = train.select("a", "b", "d")
    if library == "lightgbm":
        params = {"objective": "binary", "num_leaves": 8, "verbose": -1}
        booster = package.train(params, package.Dataset(numeric.to_numpy(), y), 20)
        adapter = _BoosterAdapter(booster, lambda values: values)
    else:
        matrix = package.DMatrix(numeric.to_numpy(), y)
        booster = package.train({"objective": "binary:logistic", "max_depth": 3}, matrix, 20)
        adapter = _BoosterAdapter(booster, package.DMatrix)
    rows = numeric.tail(50)
    e = explain(adapter, rows, features=["a", "b", "d"], task="binary", background=numeric)
    assert (e.method, e.units) == (library, "log_odds")
    np.testing.assert_allclose(expit(e.output), adapter.predict_proba(rows)[:, 1], atol=1e-6)
    terms = np.abs(e.contributions.to_numpy()).sum(axis=1) + abs(e.base_value) + np.abs(e.output)
    # LightGBM sums in float64; XGBoost in float32 over its 20 trees (see the XGBClassifier test).
    tolerance = 1e-9 if library == "lightgbm" else 20 / 2 * FLOAT32_EPS * terms
    assert np.all(_gap(e) <= tolerance)
    assert _top_share(e, "a") > 0.8


def test_multiclass_explains_the_class_at_index_one(data):
    train, _ = data
    labels = np.digitize(train["a"].to_numpy(), [-0.5, 0.5])
    model = _pipeline(LogisticRegression()).fit(train, labels)
    rows = train.head(20)
    e = explain(model, rows, features=FEATURES, task="multiclass", background=train)
    np.testing.assert_allclose(e.output, model.decision_function(rows)[:, 1], atol=1e-12)
    assert _gap(e).max() < 1e-9


def test_knn_by_sampling_adds_up_and_ranks_the_driver_first(data):
    train, y = data
    model = _pipeline(KNeighborsClassifier(n_neighbors=25)).fit(train, y)
    rows = train.tail(60)
    e = explain(model, rows, features=FEATURES, task="binary", background=train, seed=3)
    assert (e.method, e.units) == ("sampling_shapley", "probability")
    assert _gap(e).max() < 1e-9
    np.testing.assert_allclose(e.output, model.predict_proba(rows)[:, 1], atol=1e-12)
    assert _top_share(e, "a") > 0.7
    assert np.all(e.contributions["d"].to_numpy() == 0.0)  # the model never sees d


class _Interacting:
    """A known model with an interaction (a * b) and an ignored column (d)."""

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        a, b, c = (frame[name].to_numpy() for name in ("a", "b", "c"))
        p = expit(a + a * b + 0.5 * c)
        return np.column_stack([1 - p, p])


def _exact_shapley(model: _Interacting, rows: pl.DataFrame, reference: pl.DataFrame) -> np.ndarray:
    """Interventional Shapley values by enumerating every coalition over the whole reference."""
    names, n = rows.columns, len(rows.columns)
    x, z = rows.to_numpy(), reference.to_numpy()

    def value(coalition: tuple[int, ...]) -> np.ndarray:
        mixed = np.repeat(z[None], len(x), axis=0)
        mixed[:, :, list(coalition)] = x[:, None, list(coalition)]
        frame = pl.DataFrame(mixed.reshape(-1, n), schema=names, orient="row")
        return model.predict_proba(frame)[:, 1].reshape(len(x), len(z)).mean(axis=1)

    values = {s: value(s) for k in range(n + 1) for s in itertools.combinations(range(n), k)}
    phi = np.zeros((len(x), n))
    for j in range(n):
        for s in values:
            if j not in s:
                weight = math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
                phi[:, j] += weight * (values[tuple(sorted((*s, j)))] - values[s])
    return phi


def test_sampling_approaches_exact_shapley_and_gives_ignored_feature_zero():
    rng = np.random.default_rng(5)
    frame = pl.DataFrame({name: rng.normal(size=40) for name in FEATURES})
    rows, reference = frame.head(8), frame.tail(30)
    model = _Interacting()
    exact = _exact_shapley(model, rows, reference)
    e = explain(
        model, rows, features=FEATURES, task="binary", background=reference, permutations=400
    )
    assert e.base_value == pytest.approx(model.predict_proba(reference)[:, 1].mean(), abs=1e-12)
    assert _gap(e).max() < 1e-9
    assert np.all(e.contributions["d"].to_numpy() == 0.0)
    # Spread measured over 20 seeds: largest error 0.03 with contributions up to 0.27.
    assert np.abs(e.contributions.to_numpy() - exact).max() < 0.06


class _Counting(_Interacting):
    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        self.calls.append(frame.height)
        return super().predict_proba(frame)


def test_sampling_scores_all_rows_in_one_call_per_chunk(monkeypatch):
    rng = np.random.default_rng(6)
    frame = pl.DataFrame({name: rng.normal(size=50) for name in FEATURES})
    model = _Counting()
    e = explain(model, frame, features=FEATURES, task="binary", background=frame)
    # One call for the background, one for 50 rows x 16 permutations x 5 coalitions.
    assert model.calls == [50, 50 * 16 * 5]
    assert _gap(e).max() < 1e-9
    monkeypatch.setattr(explain_module, "_MAX_COALITION_CELLS", 16 * 5 * 4 * 20)
    model.calls.clear()
    e = explain(model, frame, features=FEATURES, task="binary", background=frame)
    assert model.calls == [50, 20 * 80, 20 * 80, 10 * 80]
    assert _gap(e).max() < 1e-9


@pytest.mark.parametrize("permutations", [1, 2, 3])
def test_sampling_with_a_single_pair_still_adds_up_and_ignores_the_unused_feature(permutations):
    rng = np.random.default_rng(7)
    frame = pl.DataFrame({name: rng.normal(size=30) for name in FEATURES})
    e = explain(
        _Interacting(),
        frame,
        features=FEATURES,
        task="binary",
        background=frame,
        permutations=permutations,
    )
    assert _gap(e).max() < 1e-9
    assert np.all(e.contributions["d"].to_numpy() == 0.0)


def test_sampling_is_reproducible_for_a_seed_and_varies_across_seeds(data):
    train, y = data
    model = _pipeline(KNeighborsClassifier(n_neighbors=25)).fit(train, y)
    rows = train.head(10)

    def run(seed: int) -> np.ndarray:
        e = explain(model, rows, features=FEATURES, task="binary", background=train, seed=seed)
        return e.contributions.to_numpy()

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_link_function_glm_falls_back_to_sampling_in_prediction_units(data):
    train, _ = data
    counts = np.random.default_rng(2).poisson(np.exp(0.5 * train["a"].to_numpy()))
    model = _pipeline(PoissonRegressor()).fit(train, counts)
    rows = train.head(20)
    e = explain(model, rows, features=FEATURES, task="regression", background=train)
    assert (e.method, e.units) == ("sampling_shapley", "value")
    np.testing.assert_allclose(e.output, model.predict(rows), atol=1e-12)
    assert _gap(e).max() < 1e-9


def test_missing_shap_falls_back_to_sampling(data, monkeypatch):
    train, y = data
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0, n_jobs=1)
    model = _pipeline(forest).fit(train, y)
    monkeypatch.setitem(sys.modules, "shap", None)  # makes `import shap` raise ImportError
    e = explain(model, train.head(5), features=FEATURES, task="binary", background=train)
    assert e.method == "sampling_shapley"


def test_top_and_to_frame(data):
    train, y = data
    model = _pipeline(LogisticRegression()).fit(train, y)
    e = explain(model, train.head(5), features=FEATURES, task="binary", background=train)
    top = e.top(2)
    assert top.columns == ["row", "feature", "contribution"]
    assert top["row"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    largest = np.sort(np.abs(e.contributions.to_numpy()), axis=1)[:, ::-1][:, :2]
    np.testing.assert_array_equal(np.abs(top["contribution"].to_numpy()), largest.ravel())
    table = e.to_frame()
    assert table.columns == [*FEATURES, "base_value", "output"]
    np.testing.assert_array_equal(table["output"].to_numpy(), e.output)


def test_bad_input_raises_input_error_naming_the_columns(data):
    train, y = data
    model = _pipeline(LogisticRegression()).fit(train, y)
    cases = [
        (train.select("a", "c"), train, r"frame is missing feature columns \['b', 'd'\]"),
        (train, train.select("a"), r"background is missing feature columns \['b', 'c', 'd'\]"),
        (train.clear(), train, "frame has 0 rows"),
        (train, train.clear(), "background has 0 rows"),
    ]
    for frame, background, message in cases:
        with pytest.raises(InputError, match=message):
            explain(model, frame, features=FEATURES, task="binary", background=background)


def test_bad_arguments_raise_input_error(data):
    train, y = data
    model = _pipeline(LogisticRegression()).fit(train, y)
    rows = train.head(3)
    with pytest.raises(InputError, match="task 'ranking' is not supported"):
        explain(model, rows, features=FEATURES, task="ranking", background=train)
    with pytest.raises(InputError, match="fitted on"):
        explain(model, rows, features=["b", "a", "c", "d"], task="binary", background=train)
    with pytest.raises(InputError, match="permutations=0"):
        explain(model, rows, features=FEATURES, task="binary", background=train, permutations=0)
