"""Permutation importance on a real sklearn pipeline fed raw polars frames."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tether.errors import InputError
from tether.performance import permutation_importance


def _data(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "color": rng.choice(["red", "blue", "green"], n),
        }
    )
    logit = 2.5 * frame["signal"].to_numpy() + 0.7 * (frame["color"] == "red").to_numpy()
    return frame, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    frame, y = _data(2000, seed=0)
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["signal", "noise"]), ("cat", OneHotEncoder(), ["color"])]
    )
    return make_pipeline(columns, LogisticRegression()).fit(frame, y)


def test_the_driving_feature_is_clearly_largest_and_noise_is_zero(pipeline: Pipeline) -> None:
    frame, y = _data(3000, seed=1)
    table = permutation_importance(
        lambda f: pipeline.predict_proba(f)[:, 1], frame, y, task="binary", max_rows=2000
    )
    assert table.columns == ["feature", "importance", "std", "baseline"]
    assert table["feature"].to_list()[0] == "signal"
    by_feature = {row["feature"]: row for row in table.iter_rows(named=True)}
    signal, noise = by_feature["signal"], by_feature["noise"]
    assert signal["importance"] > 0.2
    assert signal["importance"] > 10 * by_feature["color"]["importance"]
    assert abs(noise["importance"]) <= 2 * noise["std"]
    assert table["importance"].to_list() == sorted(table["importance"], reverse=True)
    assert table["baseline"].unique().to_list() == [pytest.approx(0.9, abs=0.03)]


def test_score_fn_runs_once_per_feature_on_the_stacked_sample() -> None:
    frame, y = _data(300, seed=2)
    heights = []

    def score_fn(f: pl.DataFrame) -> np.ndarray:
        heights.append(f.height)
        return 1 / (1 + np.exp(-2.5 * f["signal"].to_numpy()))

    permutation_importance(
        score_fn, frame, y, task="binary", features=["signal", "noise"], n_repeats=4, max_rows=100
    )
    assert heights == [100, 400, 400]


def test_lower_is_better_metrics_give_positive_importance() -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"x": rng.normal(size=500), "z": rng.normal(size=500)})
    y = 3 * frame["x"].to_numpy() + rng.normal(size=500)
    model = LinearRegression().fit(frame.to_numpy(), y)
    table = permutation_importance(
        lambda f: model.predict(f.to_numpy()), frame, y, task="regression", seed=1
    )
    by_feature = dict(table.select("feature", "importance").rows())
    assert by_feature["x"] > 2.0  # rmse grows from ~1 to ~sqrt(1 + 2 * 9)
    assert abs(by_feature["z"]) < 0.05
    r2 = permutation_importance(
        lambda f: model.predict(f.to_numpy()), frame, y, task="regression", metric="r2"
    )
    assert r2["feature"][0] == "x"
    assert r2["importance"][0] > 1.0


def test_same_seed_same_table() -> None:
    frame, y = _data(400, seed=4)

    def score_fn(f: pl.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-f["signal"].to_numpy()))

    first = permutation_importance(score_fn, frame, y, task="binary", max_rows=200, seed=7)
    assert first.equals(
        permutation_importance(score_fn, frame, y, task="binary", max_rows=200, seed=7)
    )
    other = permutation_importance(score_fn, frame, y, task="binary", max_rows=200, seed=8)
    assert not first.equals(other)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["age"]}, "features \\['age'\\] are not columns of frame"),
        ({"metric": "mae"}, "metrics \\['mae'\\] do not apply to task 'binary'"),
        ({"task": "ranking"}, "task 'ranking' is not supported"),
        ({"n_repeats": 0}, "n_repeats is 0; it must be a positive integer"),
        ({"y_true": [0, 1]}, "frame has 10 rows but y_true has 2"),
        ({"frame": {"x": [1]}}, "frame is a dict; it must be a polars DataFrame"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "frame": pl.DataFrame({"x": np.linspace(0, 1, 10)}),
        "y_true": [0, 1] * 5,
        "task": "binary",
    }
    arguments.update(kwargs)
    with pytest.raises(InputError, match=message):
        permutation_importance(lambda f: f["x"].to_numpy(), **arguments)  # type: ignore[arg-type]


def test_scores_of_the_wrong_length_raise_input_error() -> None:
    frame = pl.DataFrame({"x": np.linspace(0, 1, 10)})
    with pytest.raises(InputError, match="y_true has 10 rows but scores has 9"):
        permutation_importance(lambda f: f["x"].to_numpy()[:-1], frame, [0, 1] * 5, task="binary")
